// Command liaison is the Liaison gateway: `liaison serve` runs the daemon;
// the other subcommands check mappings, simulate scenarios and inspect the
// store. See `liaison help`.
package main

import (
	"os"
	"runtime"

	"github.com/liaisonhq/liaison/internal/cli"
)

func main() {
	runtime.GOMAXPROCS(procs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)))
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

// procs is how many goroutines run at once: twice the runtime's default
// (the CPUs this process may use), unless the admin set GOMAXPROCS.
//
// The daemon spends much of its time in blocking system calls: the fsyncs
// of the intake journal and of SQLite's log, and SQLite's reads and
// writes. A goroutine in a system call keeps its processor until the
// runtime's monitor hands it over, and on a 2-CPU machine one fsync then
// leaves half the processors to everything else: the webhook answers, the
// committers and the workers wait in the run queue. With twice as many,
// in 15 alternating pairs of `liaison bench` on 2 CPUs, intake beside
// reconciling rose by about a fifth in every pair, the scheduler's p99
// wait fell from about 0.9 ms to 0.5–0.65 ms, and the acknowledgement p99
// fell at the median from 3.9 to 2.8 ms. (Setting it stops the runtime
// from following a later change of the container's CPU limit; a restart
// picks that up.)
func procs(env string, def int) int {
	if env != "" {
		return def // the runtime already took the admin's value
	}
	return 2 * def
}
