// Command desksync keeps a version-controlled set of files in sync with Teamwork Desk
// attachments, the way Terraform keeps infrastructure in sync: `plan` shows what would change,
// offline; `apply` makes it so through Desk's three-step upload and records the file IDs in a
// state file.
//
// The commands live in internal/command; this file only runs them.
package main

import (
	_ "embed"
	"os"

	"github.com/desksync/desksync/internal/command"
)

// manifestSchema is embedded here, not in internal/command, because the file is
// published at the repository's root, where go:embed in a sub-folder cannot reach.
//
//go:embed desksync.schema.json
var manifestSchema []byte

func main() {
	command.ManifestSchema = manifestSchema
	os.Exit(command.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
