package command

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/plan"
)

// TestCRLFWarning: a work tree where git converted an attachment's line endings on
// checkout (core.autocrlf=true, Git for Windows' default) gets a warning naming the
// fix; the same file checked out with -text in .gitattributes gets none; and a plan
// that replaces no content never runs git.
func TestCRLFWarning(t *testing.T) {
	t.Parallel()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(git, append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "-q")
	write("docs/a.txt", "one\ntwo\n")
	write("docs/b.txt", "one\ntwo\n")
	run("add", ".")
	run("commit", "-q", "-m", "attachments")
	run("config", "core.autocrlf", "true")
	write(".gitattributes", "docs/b.txt -text\n")
	for _, f := range []string{"docs/a.txt", "docs/b.txt"} {
		if err := os.Remove(filepath.Join(root, f)); err != nil {
			t.Fatal(err)
		}
	}
	run("checkout", "--", "docs")
	if data, _ := os.ReadFile(filepath.Join(root, "docs/a.txt")); string(data) != "one\r\ntwo\r\n" {
		t.Fatalf("git did not convert docs/a.txt: %q", data)
	}
	replace := func(addrs ...string) *plan.Plan {
		p := &plan.Plan{}
		for _, a := range addrs {
			p.Changes = append(p.Changes, plan.Change{Address: a, Action: plan.Replace, Reasons: []string{"content changed, 8 B -> 10 B"}})
		}
		return p
	}
	ctx := context.Background()
	w := crlfWarning(ctx, git, root, replace("docs/a.txt", "docs/b.txt"))
	for _, want := range []string{"1 changed attachment(s)", "docs/a.txt", `"-text"`, ".gitattributes", "git reset --hard"} {
		if !strings.Contains(w, want) {
			t.Errorf("the warning %q does not say %q", w, want)
		}
	}
	if w := crlfWarning(ctx, git, root, replace("docs/b.txt")); w != "" {
		t.Errorf("a -text file got a warning: %s", w)
	}

	// Nothing to warn about: git is not run at all (this "git" would leave a mark).
	marker := filepath.Join(t.TempDir(), "ran")
	fake := filepath.Join(t.TempDir(), "git")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	noContent := &plan.Plan{Changes: []plan.Change{
		{Address: "docs/a.txt", Action: plan.Update, Reasons: []string{`filename: "a" -> "b"`}},
		{Address: "docs/c.txt", Action: plan.Create},
	}}
	if w := crlfWarning(ctx, fake, root, noContent); w != "" {
		t.Errorf("warning without content changes: %s", w)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("git was run for a plan that replaces no content")
	}
}
