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
// runtime's monitor hands it over, so on a 2-CPU machine one fsync left
// half the processors to the webhook answers, the committers and the
// workers (README, Performance: intake beside reconciling rose by about a
// quarter, the acknowledgement p99 fell by about a quarter). Setting it
// stops the runtime from following a later change of the container's CPU
// limit; a restart picks that up.
func procs(env string, def int) int {
	if env != "" {
		return def // the runtime already took the admin's value
	}
	return 2 * def
}
