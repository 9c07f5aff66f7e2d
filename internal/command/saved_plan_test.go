package command

// End-to-end proofs that a saved plan is untrusted input:
// each forgery of a plan file is refused before any Desk call that changes anything,
// and the limits of apply hold for saved plans.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/testdesk"
)

// planWorld is a folder with a manifest, applied once against its own emulator, and
// a Desk file of another team's that no state tracks (the forgeries' target).
type planWorld struct {
	dir    string
	env    []string
	srv    *desktest.Server
	victim int64
}

func newPlanWorld(t *testing.T, files map[string]string) *planWorld {
	t.Helper()
	d := testdesk.Start(t, testdesk.Options{Emulator: desktest.Options{APIKey: randomKey(t)}})
	w := &planWorld{dir: t.TempDir(), env: d.Env(), srv: d.Emulator}
	other := filepath.Join(w.dir, "other-team")
	writeFiles(t, other, map[string]string{"desksync.yaml": "version: 1\nattachments:\n  - path: contract.pdf\n", "contract.pdf": "%PDF signed"})
	if r := runCLI(t, other, w.env, "apply", "--auto-approve"); r.code != 0 {
		t.Fatalf("other team's apply: %s", r.stderr)
	}
	w.victim = w.srv.Files()[0].ID
	writeFiles(t, w.dir, files)
	return w
}

// active returns the IDs of the active Desk files.
func (w *planWorld) active() map[int64]bool {
	ids := map[int64]bool{}
	for _, f := range w.srv.Files() {
		if f.State == "active" {
			ids[f.ID] = true
		}
	}
	return ids
}

// forge rewrites the plan file at path through edit, on its generic JSON form.
func forge(t *testing.T, path, out string, edit func(o map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	edit(o)
	if data, err = json.Marshal(o); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSavedPlanForgeriesRefused(t *testing.T) {
	t.Parallel()
	w := newPlanWorld(t, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: a.txt\n  - path: b.txt\n",
		"a.txt":         "a",
		"b.txt":         "b",
	})
	if r := runCLI(t, w.dir, w.env, "apply", "--auto-approve"); r.code != 0 {
		t.Fatalf("apply: %s", r.stderr)
	}
	var st struct {
		Attachments map[string]struct{ ID int64 }
	}
	data, err := os.ReadFile(filepath.Join(w.dir, "desksync.state.json"))
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, w.dir, map[string]string{"b.txt": "b, edited", "c.txt": "c"})
	writeFiles(t, w.dir, map[string]string{"desksync.yaml": "version: 1\nattachments:\n  - path: a.txt\n  - path: b.txt\n  - path: c.txt\n"})
	if r := runCLI(t, w.dir, w.env, "plan", "--out", "good.plan"); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	good := filepath.Join(w.dir, "good.plan")
	victimDelete := map[string]any{"address": "zzz", "action": "delete",
		"before": map[string]any{"id": w.victim, "filename": "contract.pdf", "mimeType": "application/pdf",
			"disposition": "attachment", "type": "attachment", "size": 11, "blake3": strings.Repeat("0", 64)},
		"after": nil, "reasons": []string{"not in the manifest"}}
	change := func(o map[string]any, addr string) map[string]any {
		for _, c := range o["changes"].([]any) {
			if c.(map[string]any)["address"] == addr {
				return c.(map[string]any)
			}
		}
		t.Fatalf("no change for %s", addr)
		return nil
	}
	tests := []struct {
		name string
		edit func(o map[string]any)
		// noState moves the state away first, as in the last case of SECURITY.md's saved-plan defence.
		noState bool
		want    string
	}{
		{"delete of another team's file added", func(o map[string]any) {
			o["changes"] = append(o["changes"].([]any), victimDelete)
		}, false, `"zzz": action is delete in the file, none now`},
		{"cleanup forged", func(o map[string]any) {
			o["cleanups"] = []any{map[string]any{"address": "zzz", "id": w.victim, "kind": "deposed", "since": "2026-11-26T10:00:00Z"}}
		}, false, `"zzz": cleanup is deposed of Desk file ` + fmt.Sprint(w.victim) + ` in the file, none now`},
		{"replace aimed at another team's file", func(o map[string]any) {
			change(o, "b.txt")["before"].(map[string]any)["id"] = w.victim
		}, false, fmt.Sprintf(`"b.txt": before.id is %d in the file, %d now`, w.victim, st.Attachments["b.txt"].ID)},
		{"after.mimeType edited", func(o map[string]any) {
			change(o, "c.txt")["after"].(map[string]any)["mimeType"] = "text/html"
		}, false, `"c.txt": after.mimeType is "text/html" in the file, "text/plain" now`},
		{"after.filename edited", func(o map[string]any) {
			change(o, "c.txt")["after"].(map[string]any)["filename"] = "invoice.pdf.exe"
		}, false, `"c.txt": after.filename is "invoice.pdf.exe" in the file, "c.txt" now`},
		{"with no state at all", func(o map[string]any) {
			o["stateExists"], o["lineage"], o["serial"], o["tracked"] = false, "", 0, 0
			o["changes"] = []any{victimDelete}
			delete(o, "cleanups")
		}, true, `"a.txt": action is none in the file, create now`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := w.dir
			if tt.noState {
				dir = t.TempDir()
				for _, name := range []string{"desksync.yaml", "a.txt", "b.txt", "c.txt"} {
					data, err := os.ReadFile(filepath.Join(w.dir, name))
					if err != nil {
						t.Fatal(err)
					}
					writeFiles(t, dir, map[string]string{name: string(data)})
				}
			}
			forge(t, good, filepath.Join(dir, "forged.plan"), tt.edit)
			before, _ := os.ReadFile(filepath.Join(dir, "desksync.state.json"))
			r := runCLI(t, dir, w.env, "apply", "forged.plan")
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("apply of a forged plan: exit %d\nstderr:\n%s\nwant %q", r.code, r.stderr, tt.want)
			}
			if !strings.Contains(r.stderr, `desksync: hint: the plan file was edited, or made from other files; make it again with "desksync plan --out forged.plan"`) {
				t.Errorf("hint missing:\n%s", r.stderr)
			}
			if !w.active()[w.victim] {
				t.Fatalf("the other team's Desk file %d was deleted", w.victim)
			}
			if len(w.active()) != 3 {
				t.Errorf("active files: %v, want the victim and a.txt, b.txt only", w.active())
			}
			after, _ := os.ReadFile(filepath.Join(dir, "desksync.state.json"))
			if string(before) != string(after) {
				t.Errorf("state changed")
			}
		})
	}

	// The untouched plan applies.
	if r := runCLI(t, w.dir, w.env, "apply", "good.plan"); r.code != 0 || !strings.Contains(r.stdout, "Apply complete: 1 created, 0 updated, 1 replaced") {
		t.Fatalf("apply of the good plan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestSavedPlanMaxFileSize: apply PLANFILE --max-file-size holds, and a
// limit recorded in the plan holds without the flag.
func TestSavedPlanMaxFileSize(t *testing.T) {
	t.Parallel()
	w := newPlanWorld(t, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: big.bin\n  - path: small.txt\n",
		"big.bin":       strings.Repeat("x", 3<<20),
		"small.txt":     "small",
	})
	if r := runCLI(t, w.dir, w.env, "plan", "--out", "p.plan"); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	r := runCLI(t, w.dir, w.env, "apply", "p.plan", "--max-file-size", "1MiB")
	if r.code != 1 || !strings.Contains(r.stderr, "big.bin is 3.0 MiB (3145728 bytes), more than the 1.0 MiB limit for one attachment") {
		t.Fatalf("apply p.plan --max-file-size 1MiB: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(w.srv.Files()); n != 1 {
		t.Fatalf("%d files on Desk, want only the other team's", n)
	}

	// A plan made with a limit keeps it: a larger flag at apply does not loosen it.
	writeFiles(t, w.dir, map[string]string{"big.bin": strings.Repeat("x", 1<<20)})
	if r := runCLI(t, w.dir, w.env, "plan", "--max-file-size", "2MiB", "--out", "q.plan"); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	writeFiles(t, w.dir, map[string]string{"big.bin": strings.Repeat("y", 3<<20)})
	if r := runCLI(t, w.dir, w.env, "plan", "--out", "r.plan"); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	forge(t, filepath.Join(w.dir, "r.plan"), filepath.Join(w.dir, "r.plan"), func(o map[string]any) {
		o["madeWith"].(map[string]any)["maxFileSize"] = 2 << 20
	})
	r = runCLI(t, w.dir, w.env, "apply", "r.plan", "--max-file-size", "5GiB")
	if r.code != 1 || !strings.Contains(r.stderr, "more than the 2.0 MiB limit") {
		t.Fatalf("apply with a recorded 2 MiB limit: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(w.srv.Files()); n != 1 {
		t.Fatalf("%d files on Desk, want only the other team's", n)
	}
}

// TestSavedPlanReplaceTampered: the replace set a saved plan records is verified like
// its changes: a replace dropped from it, or one added without its change, is refused
// before any Desk call that changes anything.
func TestSavedPlanReplaceTampered(t *testing.T) {
	t.Parallel()
	w := newPlanWorld(t, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: a.txt\n  - path: b.txt\n",
		"a.txt":         "a",
		"b.txt":         "b",
	})
	if r := runCLI(t, w.dir, w.env, "apply", "--auto-approve"); r.code != 0 {
		t.Fatalf("apply: %s", r.stderr)
	}
	for _, args := range [][]string{{"plan", "--replace", "a.txt", "--out", "r.plan"}, {"plan", "--out", "plain.plan"}} {
		if r := runCLI(t, w.dir, w.env, args...); r.code != 0 {
			t.Fatalf("%s: %s", args, r.stderr)
		}
	}
	tests := []struct {
		name, from string
		edit       func(o map[string]any)
		want       string
	}{
		{"replace set emptied", "r.plan", func(o map[string]any) { delete(o, "replace") },
			`"a.txt": action is replace in the file, none now`},
		{"replace set without its change", "plain.plan", func(o map[string]any) { o["replace"] = []any{"a.txt"} },
			`replace: the plan has no replace of "a.txt"`},
		{"replace set unnormalised", "r.plan", func(o map[string]any) { o["replace"] = []any{"./a.txt"} },
			`"replace" must list addresses, sorted and each once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := strings.ReplaceAll(tt.name, " ", "-") + ".plan"
			forge(t, filepath.Join(w.dir, tt.from), filepath.Join(w.dir, out), tt.edit)
			before, _ := os.ReadFile(filepath.Join(w.dir, "desksync.state.json"))
			files := len(w.srv.Files())
			r := runCLI(t, w.dir, w.env, "apply", out)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("apply of a forged plan: exit %d\nstderr:\n%s\nwant %q", r.code, r.stderr, tt.want)
			}
			after, _ := os.ReadFile(filepath.Join(w.dir, "desksync.state.json"))
			if string(before) != string(after) || len(w.srv.Files()) != files {
				t.Errorf("state or Desk changed")
			}
		})
	}
}
