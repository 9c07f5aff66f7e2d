package gitstate_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/gittest"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/gitstate"
	"github.com/desksync/desksync/state/statetest"
)

const loc = "git:refs/desksync/state"

// open returns a Store for location in a fresh clone of url.
func open(t *testing.T, url, location string) *gitstate.Store {
	t.Helper()
	st, err := gitstate.Open(location, gitstate.Options{Dir: gittest.Clone(t, url)})
	if err != nil {
		t.Fatalf("Open(%s): %v", location, err)
	}
	return st
}

// TestConformance runs the Store contract against a file:// remote, git daemon and git
// http-backend. It pushes some 300 commits per transport (a minute each on two busy
// cores), so it runs with DESKSYNC_LONG_TESTS=1, as CI does; the plain run keeps to the
// tests below.
func TestConformance(t *testing.T) {
	if os.Getenv("DESKSYNC_LONG_TESTS") != "1" {
		t.Skip("some 900 pushes; set DESKSYNC_LONG_TESTS=1")
	}
	gittest.Isolate(t)
	for _, tr := range gittest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			srv := gittest.New(t, tr)
			statetest.Run(t, func(t *testing.T) state.Store {
				return open(t, srv.NewRepo(t), loc)
			})
		})
	}
}

// TestStaleWriterRefused: a run that read the state before another run wrote it cannot
// push over it, on any transport; what it meant to write is kept on a local ref, and the
// server keeps the other run's state.
func TestStaleWriterRefused(t *testing.T) {
	gittest.Isolate(t)
	for _, tr := range gittest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			ctx := context.Background()
			url := gittest.New(t, tr).NewRepo(t)
			a, b := open(t, url, loc), open(t, url, loc)
			s := state.New("https://example.teamwork.com")
			if err := a.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
			sa, err := a.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sb.Activate("b.png", state.Attachment{ID: 2, Filename: "b.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment",
				Size: 1, Blake3: strings.Repeat("ab", 32), State: "active"})
			if err := b.Save(ctx, sb); err != nil {
				t.Fatal(err)
			}
			mut := state.Mutation{Op: state.OpSetPending, Address: "a.png", Pending: &state.Pending{ID: 1, Blake3: strings.Repeat("cd", 32)}}
			if err := sa.Apply(mut); err != nil {
				t.Fatal(err)
			}
			err = a.Append(ctx, sa, []state.Mutation{mut})
			var ce *gitstate.ConcurrentWriteError
			if !errors.As(err, &ce) {
				t.Fatalf("stale Append = %v, want a *gitstate.ConcurrentWriteError", err)
			}
			if !strings.Contains(ce.Hint(), ce.Kept) || !strings.Contains(ce.Hint(), "desksync state merge") {
				t.Errorf("hint %q does not say where the refused commit is kept and how to merge it", ce.Hint())
			}
			got, err := open(t, url, loc).Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Attachments["b.png"] == nil || got.Pending["a.png"] != nil {
				t.Errorf("server state after the refused push: %+v, want b's", got)
			}
		})
	}
}

// TestDeadRunLock: a lock whose holder died stays until force-unlock with its ID;
// a wrong ID leaves it; then the lock can be taken again.
func TestDeadRunLock(t *testing.T) {
	gittest.Isolate(t)
	ctx := context.Background()
	url := gittest.New(t, gittest.Daemon).NewRepo(t)
	dead, alive := open(t, url, loc), open(t, url, loc)
	id, err := dead.Lock(ctx, state.LockInfo{Operation: "apply", Who: "ci@runner-gone"})
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = alive.Lock(done, state.LockInfo{Operation: "apply"})
	var le *state.LockedError
	if !errors.As(err, &le) || le.Info.ID != id || !strings.Contains(le.Hint(), "force-unlock "+id) {
		t.Fatalf("Lock over a dead run's lock = %v, want a *state.LockedError naming %s", err, id)
	}
	var ie *state.LockIDError
	if err := alive.ForceUnlock("not-"+id, false); !errors.As(err, &ie) {
		t.Fatalf("ForceUnlock with a wrong id = %v, want *state.LockIDError", err)
	}
	if err := alive.ForceUnlock(id, false); err != nil {
		t.Fatalf("ForceUnlock: %v", err)
	}
	id2, err := alive.Lock(done, state.LockInfo{Operation: "apply"})
	if err != nil {
		t.Fatalf("Lock after force-unlock: %v", err)
	}
	if err := alive.Unlock(id2); err != nil {
		t.Fatal(err)
	}
}

func TestParseLocation(t *testing.T) {
	for _, tt := range []struct {
		in, remote, ref, err string
	}{
		{in: "git:refs/desksync/state", remote: "origin", ref: "refs/desksync/state"},
		{in: "git:upstream:refs/desksync/state", remote: "upstream", ref: "refs/desksync/state"},
		{in: "git:https://example.com/a.git:refs/x/y", remote: "https://example.com/a.git", ref: "refs/x/y"},
		{in: "git:refs/heads/main", err: "branch"},
		{in: "git:refs/desksync/state-lock", err: "lock"},
		{in: "git:desksync", err: "full ref name"},
		{in: "git:-oops:refs/x/y", err: "remote"},
		{in: "git:refs/x/a..b", err: "valid git ref"},
		{in: "git:refs/x/a.lock", err: "valid git ref"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			remote, ref, err := gitstate.ParseLocation(tt.in)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseLocation = %v, want an error about %q", err, tt.err)
			case tt.err == "" && (err != nil || remote != tt.remote || ref != tt.ref):
				t.Errorf("ParseLocation = %q, %q, %v; want %q, %q", remote, ref, err, tt.remote, tt.ref)
			}
		})
	}
}

// TestJournalDamage: a commit whose journal does not continue its state (a gap, another
// lineage, a line that does not parse) is refused as a corrupt state, naming the commit's
// file and line, and never written over.
func TestJournalDamage(t *testing.T) {
	gittest.Isolate(t)
	ctx := context.Background()
	url := gittest.New(t, gittest.File).NewRepo(t)
	w := open(t, url, loc)
	s := state.New("https://example.teamwork.com")
	if err := w.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, journal, want string }{
		{"gap", `{"lineage":"` + s.Lineage + `","serial":5,"mutation":{"op":"forget","address":"a"}}` + "\n", "step 5 follows serial 1"},
		{"lineage", `{"lineage":"other","serial":2,"mutation":{"op":"forget","address":"a"}}` + "\n", `lineage "other"`},
		{"garbage", "{not json\n", "desksync.state.journal:1:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := gittest.Clone(t, url)
			gittest.Run(t, dir, "fetch", "--quiet", "origin", "refs/desksync/state")
			stateBlob := gittest.Run(t, dir, "rev-parse", "FETCH_HEAD:desksync.state.json")
			jf := dir + "/j"
			if err := os.WriteFile(jf, []byte(tt.journal), 0o644); err != nil {
				t.Fatal(err)
			}
			jblob := gittest.Run(t, dir, "hash-object", "-w", jf)
			tree, err := gittestMktree(dir, "100644 blob "+stateBlob+"\tdesksync.state.json\n100644 blob "+jblob+"\tdesksync.state.journal\n")
			if err != nil {
				t.Fatal(err)
			}
			commit := gittest.Run(t, dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree, "-p", "FETCH_HEAD", "-m", "damage")
			gittest.Run(t, dir, "push", "--quiet", "--force", "origin", commit+":refs/desksync/state")
			_, err = open(t, url, loc).Load(ctx)
			var ce *state.CorruptError
			if !errors.As(err, &ce) || !ce.Journal || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want a corrupt journal error containing %q", err, tt.want)
			}
			st := open(t, url, loc)
			if err := st.Save(ctx, state.New("https://example.teamwork.com")); err == nil || !strings.Contains(err.Error(), "not saving over") {
				t.Errorf("Save over a damaged state = %v, want it refused", err)
			}
		})
	}
}

// gittestMktree runs git mktree with input in dir.
func gittestMktree(dir, input string) (string, error) {
	cmd := exec.Command("git", "mktree")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, gittest.Env(), strings.NewReader(input)
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// TestHooksNotRun: a checkout's hooks (a pull request may have put one in core.hooksPath)
// never run during desksync's git commands.
func TestHooksNotRun(t *testing.T) {
	gittest.Isolate(t)
	url := gittest.New(t, gittest.File).NewRepo(t)
	dir := gittest.Clone(t, url)
	hooks := t.TempDir()
	marker := hooks + "/ran"
	for _, h := range []string{"pre-push", "reference-transaction", "post-checkout"} {
		if err := os.WriteFile(hooks+"/"+h, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gittest.Run(t, dir, "config", "core.hooksPath", hooks)
	st, err := gitstate.Open(loc, gitstate.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), state.New("https://example.teamwork.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a hook of the checkout ran during desksync's git commands")
	}
}

// TestBadLockRef: a lock ref whose lock.json does not parse locks the state, and the
// error says how to delete the ref.
func TestBadLockRef(t *testing.T) {
	gittest.Isolate(t)
	url := gittest.New(t, gittest.File).NewRepo(t)
	dir := gittest.Clone(t, url)
	f := dir + "/lock.json"
	if err := os.WriteFile(f, []byte("{oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	blob := gittest.Run(t, dir, "hash-object", "-w", f)
	tree, err := gittestMktree(dir, "100644 blob "+blob+"\tlock.json\n")
	if err != nil {
		t.Fatal(err)
	}
	commit := gittest.Run(t, dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree, "-m", "bad lock")
	gittest.Run(t, dir, "push", "--quiet", "origin", commit+":refs/desksync/state-lock")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = open(t, url, loc).Lock(done, state.LockInfo{Operation: "apply"})
	var le *state.LockedError
	if !errors.As(err, &le) || le.Err == nil {
		t.Fatalf("Lock over a bad lock ref = %v, want a *state.LockedError with the parse error", err)
	}
	if h := hint.Of(err); len(h) == 0 || !strings.Contains(h[0], "git push origin :refs/desksync/state-lock") {
		t.Errorf("hints %q do not give the command that deletes the lock ref", h)
	}
}
