// Command liaison is the Liaison gateway: `liaison serve` runs the daemon;
// the other subcommands check mappings, simulate scenarios and inspect the
// store. See `liaison help`.
package main

import (
	"os"

	"github.com/liaisonhq/liaison/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
