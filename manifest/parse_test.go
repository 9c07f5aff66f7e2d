package manifest_test

import (
	"errors"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
)

func TestParseDocument(t *testing.T) {
	t.Parallel()
	// Parse looks at no file: the paths below exist nowhere.
	src := "version: 1\nstate: s.json\ndefaults:\n  disposition: attachment-inline\n" +
		"attachments:\n  - path: no/such/file.png\n    filename: F.png\n  - path: \"img/**/*.svg\"\n    mimeType: IMAGE/SVG+XML\n"
	doc, err := manifest.Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pos := func(l, c int) manifest.Position { return manifest.Position{File: "m.yaml", Line: l, Column: c} }
	want := &manifest.Document{
		Name:     "m.yaml",
		Version:  1,
		State:    &manifest.Value{Text: "s.json", Pos: pos(2, 8)},
		Defaults: manifest.Fields{Disposition: &manifest.Value{Text: "attachment-inline", Pos: pos(4, 16)}},
		Attachments: []manifest.Item{
			{Index: 0, Pos: pos(6, 5), Path: manifest.Value{Text: "no/such/file.png", Pos: pos(6, 11)},
				Fields: manifest.Fields{Filename: &manifest.Value{Text: "F.png", Pos: pos(7, 15)}}},
			{Index: 1, Pos: pos(8, 5), Path: manifest.Value{Text: "img/**/*.svg", Pos: pos(8, 11)}, Glob: true,
				Fields: manifest.Fields{MimeType: &manifest.Value{Text: "image/svg+xml", Pos: pos(9, 15)}}},
		},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("Parse:\n got: %#v\nwant: %#v", doc, want)
	}
}

func TestParseErrorsAreSortedAndComplete(t *testing.T) {
	t.Parallel()
	// The unknown top-level key comes after attachments in the file, but errors are in
	// file order whatever order the checks run in.
	src := "attachments:\n  - path: a.png\n    disposition: x\n  - path: \"\"\nversion: 3\nextra: 1\n"
	_, err := manifest.Parse("m.yaml", []byte(src))
	want := `m.yaml:3:18: attachments[0].disposition: "x" is not attachment or attachment-inline` + "\n" +
		"m.yaml:4:11: attachments[1].path: must not be empty\n" +
		"m.yaml:5:10: version: unknown version 3\n" +
		"m.yaml:6:1: extra: unknown field"
	if err == nil || err.Error() != want {
		t.Fatalf("err:\n got: %v\nwant: %s", err, want)
	}
	var list manifest.ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("want an ErrorList of 4, got %T", err)
	}
	var first *manifest.Error
	if !errors.As(err, &first) || first != list[0] {
		t.Errorf("errors.As(*Error) = %v, want the first error", first)
	}
	if got, want := list.Hint(), "name the file relative to the manifest's folder"; got != want {
		t.Errorf("Hint = %q, want %q (the first error with a hint)", got, want)
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *manifest.Error
		want string
	}{
		{&manifest.Error{Pos: manifest.Position{File: "d.yaml", Line: 12, Column: 5}, Field: "attachments[2].disposition", Msg: "bad"},
			"d.yaml:12:5: attachments[2].disposition: bad"},
		{&manifest.Error{Pos: manifest.Position{File: "d.yaml", Line: 3}, Msg: "invalid YAML: x"}, "d.yaml:3: invalid YAML: x"},
		{&manifest.Error{Pos: manifest.Position{File: "d.yaml"}, Msg: "cannot read"}, "d.yaml: cannot read"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if h := (manifest.ErrorList{{Msg: "a"}}).Hint(); h != "" {
		t.Errorf("Hint of a list without hints = %q", h)
	}
}

func TestParseIgnoresComments(t *testing.T) {
	t.Parallel()
	doc, err := manifest.Parse("m.yaml", []byte("# header\nversion: 1 # only 1\nattachments: [] # none yet\n...\n"))
	if err != nil || doc.Version != 1 || len(doc.Attachments) != 0 {
		t.Fatalf("Parse = %+v, %v", doc, err)
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"version: 1\nattachments: []\n",
		"version: 1\ndefaults:\n  disposition: attachment-inline\n  type: attachment\n  mimeType: image/png\n" +
			"state: s.json\nattachments:\n  - path: images/logo.png\n    filename: logo.png\n  - path: \"help/img/**/*.svg\"\n",
		// Billion laughs: aliases are kept as nodes by yaml.v3 and refused by Parse.
		"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
			"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nversion: 1\nattachments: *e\n",
		"version: 1\nattachments:\n  - &x {path: a}\n  - *x\n  - <<: *x\n",
		"&a a: *a\n",
		strings.Repeat("[", 20000),
		strings.Repeat("- ", 20000),
		strings.Repeat("a:\n ", 5000),
		"version: 99999999999999999999999999999999999999999999999\nattachments: []\n",
		"version: 1e308\nattachments: []\n",
		"version: 0x1\nattachments: []\n",
		"version:\t1\nattachments:\n\t- path: a\n",
		"version: 1\x00\nattachments: []\n",
		"\xef\xbb\xbfversion: 1\nattachments: []\n",
		"version: 1\nattachments: []\n---\nversion: 1\n",
		"--- !!map\n? [a, b]\n: c\n",
		"version: !!binary AQ==\nattachments: [{path: !!binary YQ==}]\n",
		"version: 1\nattachments:\n  - path: \"{a,{b,{c,{d,{e}}}}}/**/**/**/**/*\"\n",
		"version: 1\nattachments:\n  - path: \"[\"\n  - path: \"\\\\\"\n  - path: ../../x\n",
		"%YAML 1.1\n%TAG ! tag:x,2000:\n---\nversion: 1\n",
		"version: 1\nattachments: [{path: a, pth: b, mimetype: c, filename: \"\\u0000\"}]\n",
		"version: 1\nstate: ../x.json\nattachment:\n  - path: *.png\n",
		"version: 1\nstate: s3://bucket/k.json\nattachments: [{path: .GIT/config}, {path: a/../.desksync/x}]\n",
		"version: 1\nstate: \"s3://\"\nattachments: []\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		doc, err := manifest.Parse("fuzz.yaml", []byte(src))
		if err == nil {
			if doc == nil || doc.Version != 1 {
				t.Fatalf("no error but document %+v", doc)
			}
			for _, it := range doc.Attachments {
				if it.Path.Text == "" || strings.HasPrefix(it.Path.Text, "/") || strings.Contains(it.Path.Text, `\`) ||
					strings.Contains(strings.ToLower(path.Clean(it.Path.Text)+"/"), ".git/") {
					t.Fatalf("accepted bad path %q", it.Path.Text)
				}
			}
			if st := doc.State; st != nil && !manifest.IsStateURL(st.Text) {
				if c := path.Clean(st.Text); strings.HasPrefix(st.Text, "/") || c == ".." || strings.HasPrefix(c, "../") {
					t.Fatalf("accepted state %q outside the root", st.Text)
				}
			}
			return
		}
		var list manifest.ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
		}
		for _, e := range list {
			if e.Pos.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("error without file or message: %#v", e)
			}
		}
	})
}

// TestManyErrorsAreCapped: a manifest with more errors than MaxErrorsShown lists the
// first ones and counts the rest, while the list itself keeps all of them.
func TestManyErrorsAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\nattachments:\n")
	const n = manifest.MaxErrorsShown + 10
	for range n {
		b.WriteString("  - path: a.txt\n    disposition: inline\n")
	}
	_, err := manifest.Parse("big.yaml", []byte(b.String()))
	var list manifest.ErrorList
	if !errors.As(err, &list) || len(list) != n {
		t.Fatalf("Parse: %d errors (%v), want %d", len(list), err, n)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != manifest.MaxErrorsShown+1 {
		t.Fatalf("Error() has %d lines, want %d", len(lines), manifest.MaxErrorsShown+1)
	}
	if want := "big.yaml:4:18: attachments[0].disposition: \"inline\" is not attachment or attachment-inline"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	if want := "… and 10 more errors in big.yaml"; lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
}
