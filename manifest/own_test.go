package manifest_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
)

func addresses(es []manifest.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Address
	}
	return out
}

// TestGlobSkipsOwnAndReserved covers the rule of docs/manifest.md that a glob
// never yields desksync's own files, the state in use whoever named it, saved plans
// recognised by content, or anything under .git/ or .desksync/ however it is reached.
func TestGlobSkipsOwnAndReserved(t *testing.T) {
	t.Parallel()
	const plan = "{\n  \"desksync_plan\": 1,\n  \"changes\": []\n}\n"
	tests := []struct {
		name     string
		manifest string
		files    map[string]string
		state    string // Options.State; @ROOT is the manifest's folder
		want     []string
	}{
		{
			name:     "the pipeline's state and its companions under a *.json* glob",
			manifest: "version: 1\nattachments:\n  - path: \"*.json*\"\n",
			files: map[string]string{
				"ci.state.json": "{}", "ci.state.json.backup": "{}", "ci.state.json.lock": "{}",
				"ci.state.json.journal": "{}", "ci.state.json.tmp-123": "{}", "ci.state.json.backup.tmp-9": "{}",
				"data.json": "[]", "ci.state.json.bak": "kept: not a name desksync writes",
			},
			state: "@ROOT/ci.state.json",
			want:  []string{"ci.state.json.bak", "data.json"},
		},
		{
			name:     "the manifest's state and the default state",
			manifest: "version: 1\nstate: states/prod.json\nattachments:\n  - path: \"**/*.json\"\n",
			files:    map[string]string{"states/prod.json": "{}", "desksync.state.json": "{}", "a.json": "{}"},
			want:     []string{"a.json", "desksync.state.json"},
		},
		{
			name:     "a link to the state",
			manifest: "version: 1\nattachments:\n  - path: \"**/*.json\"\n",
			files:    map[string]string{"desksync.state.json": "{}", "copy/state.json": "link:../desksync.state.json", "a.json": "{}"},
			want:     []string{"a.json"},
		},
		{
			name:     "the manifest under **/*",
			manifest: "version: 1\nattachments:\n  - path: \"**/*\"\n",
			files:    map[string]string{"a.txt": "a"},
			want:     []string{"a.txt"},
		},
		{
			name:     "saved plans by content, whatever their name",
			manifest: "version: 1\nattachments:\n  - path: \"*\"\n",
			files: map[string]string{
				"release.plan": plan, "plan.json": plan, "notes.plan": "just text", "data.plan": `{"changes": []}`,
				"nested.json": `{"meta": {"desksync_plan": 1}}`,
			},
			want: []string{"data.plan", "nested.json", "notes.plan"},
		},
		{
			name:     "file linked into .git",
			manifest: "version: 1\nattachments:\n  - path: \"*.txt\"\n",
			files:    map[string]string{".git/config": "token", "readme.txt": "link:.git/config", "a.txt": "a"},
			want:     []string{"a.txt"},
		},
		{
			name:     "folder linked to .git and .desksync",
			manifest: "version: 1\nattachments:\n  - path: \"*/*\"\n",
			files: map[string]string{".git/config": "token", "g": "link:.git", ".desksync/cache": "c",
				"d": "link:.desksync", "docs/a.txt": "a"},
			want: []string{"docs/a.txt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := tree(t, tt.manifest, tt.files)
			opts := manifest.Options{State: strings.ReplaceAll(tt.state, "@ROOT", filepath.Dir(mp))}
			m := load(t, mp, opts)
			if got := addresses(m.Entries); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("addresses = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWarnings covers the warnings of docs/manifest.md.
func TestWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		manifest string
		files    map[string]string
		want     []string
	}{
		{
			name:     "case collision",
			manifest: "version: 1\nattachments:\n  - path: \"*.txt\"\n",
			files:    map[string]string{"a.txt": "1", "A.txt": "2"},
			want:     []string{`desksync.yaml:3:5: "A.txt" and "a.txt" differ only by case`},
		},
		{
			name:     "NFC and NFD",
			manifest: "version: 1\nattachments:\n  - path: \"caf\u00e9.txt\"\n  - path: \"cafe\u0301.txt\"\n",
			files:    map[string]string{"caf\u00e9.txt": "1", "cafe\u0301.txt": "2"},
			want: []string{"desksync.yaml:3:5: \"cafe\u0301.txt\" and \"caf\u00e9.txt\" differ only in Unicode normalisation " +
				`("cafe\u0301.txt" and "caf\u00e9.txt")`},
		},
		{
			name:     "file missed by case, not covered",
			manifest: "version: 1\nattachments:\n  - path: \"img/*.png\"\n",
			files:    map[string]string{"img/a.png": "a", "img/Invoice 08.PNG": "b", "img/b.PNG": "c", "img/c.jpg": "d"},
			want: []string{
				`desksync.yaml:3:11: attachments[0].path: "img/Invoice 08.PNG" is not matched: glob "img/*.png" differs from its name only by case`,
				`desksync.yaml:3:11: attachments[0].path: "img/b.PNG" is not matched: glob "img/*.png" differs from its name only by case`,
			},
		},
		{
			name:     "file missed by case but listed elsewhere",
			manifest: "version: 1\nattachments:\n  - path: \"*.png\"\n  - path: B.PNG\n",
			files:    map[string]string{"a.png": "a", "B.PNG": "b"},
			want:     []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := tree(t, tt.manifest, tt.files)
			m := load(t, mp, manifest.Options{})
			got := []string{}
			for _, w := range m.Warnings {
				got = append(got, relErr(mp, w))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings:\n got: %q\nwant: %q", got, tt.want)
			}
			for _, w := range m.Warnings {
				if w.Hint() == "" {
					t.Errorf("warning %q has no hint", w)
				}
			}
		})
	}
}
