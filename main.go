// Command desksync keeps a version-controlled set of files in sync with Teamwork Desk
// attachments, the way Terraform keeps infrastructure in sync: `plan` shows what would change,
// offline; `apply` makes it so through Desk's three-step upload and records the file IDs in a
// state file.
//
// The commands live in internal/command; this file only runs them.
package main

import (
	"os"

	"github.com/desksync/desksync/internal/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
