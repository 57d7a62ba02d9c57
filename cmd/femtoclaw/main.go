// Command femtoclaw is the gateway between a language model and the machines
// of a plant. See the README for the commands.
package main

import (
	"os"

	"github.com/femtoclaw/femtoclaw/cmd/femtoclaw/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
