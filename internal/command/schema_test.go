package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/desksync/desksync/manifest"
)

// compileSchema compiles ManifestSchema with a draft 2020-12 validator.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ManifestSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// validateYAML checks a manifest's YAML against the schema, as yaml-language-server does.
func validateYAML(s *jsonschema.Schema, data []byte) error {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return err
	}
	// Round-trip through JSON so that the validator sees JSON types (float64, map[string]any).
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestSchemaUsesParserValues: the values the published schema shares with package
// manifest (its URL, the dispositions, the defaults, the version constraint) are the
// parser's own, so a change to either side shows here.
func TestSchemaUsesParserValues(t *testing.T) {
	t.Parallel()
	type prop struct {
		Description string   `json:"description"`
		Enum        []string `json:"enum"`
		Pattern     string   `json:"pattern"`
	}
	var schema struct {
		ID         string          `json:"$id"`
		Properties map[string]prop `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]prop `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(ManifestSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.ID != schemaURL {
		t.Errorf("$id is %q, init writes %q", schema.ID, schemaURL)
	}
	if p := schema.Properties["desksync"].Pattern; p != manifest.ConstraintPattern {
		t.Errorf("desksync's pattern is %q, the parser's %q", p, manifest.ConstraintPattern)
	}
	if d := schema.Properties["state"].Description; !strings.Contains(d, "Default: "+manifest.DefaultStateFile+".") {
		t.Errorf("state's description %q does not give the default %s", d, manifest.DefaultStateFile)
	}
	for _, def := range []string{"defaults", "attachment"} {
		props := schema.Defs[def].Properties
		want := []string{manifest.DispositionAttachment, manifest.DispositionInline}
		if got := props["disposition"].Enum; !slices.Equal(got, want) {
			t.Errorf("%s: disposition's enum is %q, the parser's %q", def, got, want)
		}
		if d := props["disposition"].Description; !strings.Contains(d, "Default: "+manifest.DispositionAttachment+".") {
			t.Errorf("%s: disposition's description %q does not give the default %s", def, d, manifest.DispositionAttachment)
		}
		if d := props["type"].Description; !strings.Contains(d, "Default: "+manifest.DefaultType+".") {
			t.Errorf("%s: type's description %q does not give the default %s", def, d, manifest.DefaultType)
		}
	}
}

// manifestsInTree returns every manifest in examples/ and in the scripts' archives,
// by name: the YAML files that hold an "attachments" key.
func manifestsInTree(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	isManifest := func(name string, data []byte) bool {
		ext := filepath.Ext(name)
		return (ext == ".yaml" || ext == ".yml") && bytes.Contains(data, []byte("attachments"))
	}
	err := filepath.WalkDir("../../examples", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && isManifest(p, data) {
			out[p] = data
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	archives, _ := filepath.Glob("testdata/script/*.txtar")
	for _, a := range archives {
		ar, err := txtar.ParseFile(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if isManifest(f.Name, f.Data) {
				out[a+":"+f.Name] = f.Data
			}
		}
	}
	return out
}

// TestSchemaAcceptsManifests: every manifest the parser accepts in examples/ and the
// scripts, the schema accepts too, so an editor never flags a good manifest.
func TestSchemaAcceptsManifests(t *testing.T) {
	t.Parallel()
	s := compileSchema(t)
	manifests := manifestsInTree(t)
	checked := 0
	for name, data := range manifests {
		if _, err := manifest.Parse(name, data); err != nil {
			continue // a script's deliberately bad manifest
		}
		checked++
		if err := validateYAML(s, data); err != nil {
			t.Errorf("%s: the parser accepts it, the schema does not: %v", name, err)
		}
	}
	t.Logf("%d of %d manifests parse, and the schema accepts each", checked, len(manifests))
	if checked < 10 || !slices.ContainsFunc(slices.Collect(mapsKeys(manifests)), func(n string) bool { return strings.HasPrefix(n, "../../examples/") }) {
		t.Errorf("only %d manifests checked; examples/ or the scripts were not found", checked)
	}
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSchemaRejects: mistakes an editor should flag, which the parser refuses too.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	s := compileSchema(t)
	tests := []struct{ name, yaml string }{
		{"a typo'd top-level key", "version: 1\nattachment:\n  - path: a.png\n"},
		{"a typo'd entry key", "version: 1\nattachments:\n  - paht: a.png\n"},
		{"a typo'd defaults key", "version: 1\ndefaults:\n  dispositon: attachment\nattachments: []\n"},
		{"path in defaults", "version: 1\ndefaults:\n  path: a.png\nattachments: []\n"},
		{"no version", "attachments: []\n"},
		{"version 2", "version: 2\nattachments: []\n"},
		{"no attachments", "version: 1\n"},
		{"attachments not a list", "version: 1\nattachments: a.png\n"},
		{"an entry without path", "version: 1\nattachments:\n  - filename: a.png\n"},
		{"an unknown disposition", "version: 1\nattachments:\n  - path: a.png\n    disposition: inline\n"},
		{"a type in capitals", "version: 1\nattachments:\n  - path: a.png\n    type: Attachment\n"},
		{"a mimeType with parameters", "version: 1\nattachments:\n  - path: a.txt\n    mimeType: text/plain; charset=utf-8\n"},
		{"a version constraint that is not one", "version: 1\ndesksync: \"1.3 or later\"\nattachments: []\n"},
		{"a version constraint without an operator between clauses", "version: 1\ndesksync: \">= 1.3 < 2\"\nattachments: []\n"},
		{"a filename with a slash", "version: 1\nattachments:\n  - path: a.png\n    filename: x/a.png\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := manifest.Parse("desksync.yaml", []byte(tt.yaml)); err == nil {
				t.Fatalf("the parser accepts it; the case does not belong here")
			}
			if err := validateYAML(s, []byte(tt.yaml)); err == nil {
				t.Errorf("the schema accepts it")
			}
		})
	}
}

// TestSchemaMatchesParser: the keys the schema knows at each level are exactly those
// the parser knows, read from the parser's own "known fields" hint for an unknown key.
func TestSchemaMatchesParser(t *testing.T) {
	t.Parallel()
	var schema struct {
		Properties map[string]any `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(ManifestSchema, &schema); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		level  string
		yaml   string
		schema map[string]any
	}{
		{"top level", "version: 1\nzzzzzzzzzz: 1\nattachments: []\n", schema.Properties},
		{"defaults", "version: 1\ndefaults:\n  zzzzzzzzzz: 1\nattachments: []\n", schema.Defs["defaults"].Properties},
		{"an attachment", "version: 1\nattachments:\n  - path: a\n    zzzzzzzzzz: 1\n", schema.Defs["attachment"].Properties},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			_, err := manifest.Parse("desksync.yaml", []byte(tt.yaml))
			var list manifest.ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want one error for the unknown key, got %v", err)
			}
			known, ok := strings.CutPrefix(list[0].HintText, "known fields: ")
			if !ok {
				t.Fatalf("the hint %q does not list the known fields", list[0].HintText)
			}
			parser := strings.Split(known, ", ")
			var inSchema []string
			for k := range tt.schema {
				inSchema = append(inSchema, k)
			}
			slices.Sort(parser)
			slices.Sort(inSchema)
			if !slices.Equal(parser, inSchema) {
				t.Errorf("the parser knows %v, the schema %v", parser, inSchema)
			}
		})
	}
}
