package command

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/desksync/desksync/manifest"
)

// schemaURL is where the manifest's JSON Schema is published: the file
// desksync.schema.json at the root of the repository, kept equal to the output of
// "desksync schema" by TestSchemaFileCurrent. init writes it into the manifest's
// yaml-language-server line.
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
	_, err := t.stdout.Write(manifestSchema())
	return err
}

// field is one manifest key for the schema: its name and its JSON Schema body.
type field struct {
	name   string
	schema object
}

// object is a JSON object whose members keep their order, so that the schema reads
// top-down as the manifest does and its bytes are stable.
type object []member

type member struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// properties is the "properties" member for fields.
func properties(fields []field) object {
	o := make(object, len(fields))
	for i, f := range fields {
		o[i] = member{f.name, f.schema}
	}
	return o
}

// settingFields are the settings an entry and `defaults` share. The values the parser
// accepts come from package manifest (the disposition constants), or restate its
// checks (type, mimeType); TestSchemaMatchesParser holds the two together.
func settingFields() []field {
	return []field{
		{"disposition", object{
			{"description", "How Desk shows the file: a download (attachment) or inline in the page (attachment-inline). Default: " + manifest.DispositionAttachment + "."},
			{"enum", []string{manifest.DispositionAttachment, manifest.DispositionInline}},
		}},
		{"type", object{
			{"description", "Desk's file type. Default: " + manifest.DefaultType + "."},
			{"type", "string"},
			{"pattern", "^[a-z][a-z0-9_-]*$"},
		}},
		{"mimeType", object{
			{"description", "The media type sent to Desk, bare (no parameters), e.g. image/png. Default: by the file's extension, else sniffed from its content."},
			{"type", "string"},
			{"pattern", "^[^/;\\s]+/[^/;\\s]+$"},
		}},
	}
}

// manifestSchema is the JSON Schema of desksync.yaml, indented, with a final newline.
func manifestSchema() []byte {
	attachment := append([]field{
		{"path", object{
			{"description", "A file, or a glob (** crosses folders), '/'-separated and relative to the manifest's folder. Its cleaned form is the entry's address in the state."},
			{"type", "string"},
			{"minLength", 1},
		}},
		{"filename", object{
			{"description", "The name Desk shows and downloads under. Default: the base name of path. Not allowed on a glob."},
			{"type", "string"},
			{"minLength", 1},
			{"maxLength", 255},
			{"pattern", "^[^/\\\\]+$"},
		}},
	}, settingFields()...)
	top := []field{
		{"version", object{
			{"description", "The manifest format; only 1 is known."},
			{"const", 1},
		}},
		{"desksync", object{
			{"description", "The desksync releases this manifest needs, e.g. \">= 1.3, < 2\" (operators =, !=, >, >=, <, <=, ~>); any other release refuses the manifest before doing anything."},
			{"type", "string"},
			{"pattern", manifest.ConstraintPattern},
		}},
		{"state", object{
			{"description", "The state file, relative to the manifest's folder and inside it, or an s3://BUCKET/KEY URL. Default: " + manifest.DefaultStateFile + "."},
			{"type", "string"},
			{"minLength", 1},
		}},
		{"defaults", object{
			{"description", "Settings for every entry that does not set them itself."},
			{"$ref", "#/$defs/defaults"},
		}},
		{"attachments", object{
			{"description", "The files to keep on Desk. [] manages no files at all."},
			{"type", "array"},
			{"items", object{{"$ref", "#/$defs/attachment"}}},
		}},
	}
	schema := object{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", schemaURL},
		{"title", "desksync manifest (desksync.yaml)"},
		{"description", "Which local files desksync keeps on Teamwork Desk as attachments. desksync validate checks what a schema cannot: files, globs, containment."},
		{"type", "object"},
		{"required", []string{"version", "attachments"}},
		{"additionalProperties", false},
		{"properties", properties(top)},
		{"$defs", object{
			{"defaults", object{
				{"type", "object"},
				{"additionalProperties", false},
				{"properties", properties(settingFields())},
			}},
			{"attachment", object{
				{"type", "object"},
				{"required", []string{"path"}},
				{"additionalProperties", false},
				{"properties", properties(attachment)},
			}},
		}},
	}
	data, err := json.Marshal(schema)
	if err != nil {
		panic(fmt.Sprintf("manifest schema: %v", err)) // only static values above
	}
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		panic(fmt.Sprintf("manifest schema: %v", err))
	}
	out.WriteByte('\n')
	return out.Bytes()
}
