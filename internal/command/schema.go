package command

import "errors"

// ManifestSchema is the JSON Schema of desksync.yaml that "desksync schema" prints:
// the file desksync.schema.json at the root of the repository, which package main
// embeds and sets here before Run. The file lives at the root because editors fetch
// it from there (schemaURL), and go:embed cannot reach a parent folder. The tests of
// this package read the same file and hold it to the parser.
var ManifestSchema []byte

// schemaURL is where the manifest's JSON Schema is published: the file
// desksync.schema.json at the root of the repository. init writes it into the
// manifest's yaml-language-server line.
const schemaURL = "https://raw.githubusercontent.com/desksync/desksync/main/desksync.schema.json"

type schemaCmd struct{}

func (c *schemaCmd) Help() string {
	return `Prints the JSON Schema (draft 2020-12) of desksync.yaml, for editors: with the
line "# yaml-language-server: $schema=` + schemaURL + `"
at the top of the manifest (desksync init writes it), VS Code's YAML extension and
other yaml-language-server clients complete keys and flag mistakes as you type.
"desksync validate" remains the full check: the schema cannot see files or globs.`
}

func (*schemaCmd) ignoresWorkspace() {}

func (c *schemaCmd) Run(t *terminal) error {
	if len(ManifestSchema) == 0 {
		return errors.New("this build of desksync has no manifest schema: build it from the repository's root package (go build github.com/desksync/desksync), which embeds desksync.schema.json")
	}
	_, err := t.stdout.Write(ManifestSchema)
	return err
}
