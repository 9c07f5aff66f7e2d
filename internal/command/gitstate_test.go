//go:build unix

package command

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/gittest"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/gitstate"
)

const gitStateLoc = "git:refs/desksync/state"

// newGitWorld is a crash test's world whose state lives on a ref of a bare repository
// served by tr, with w.dir a clone of it (its origin).
func newGitWorld(t *testing.T, tr gittest.Transport) (*world, string) {
	t.Helper()
	gittest.Isolate(t)
	url := gittest.New(t, tr).NewRepo(t)
	w := newWorld(t)
	w.stateLoc = gitStateLoc
	w.dir = gittest.Clone(t, url)
	return w, url
}

// gitStore opens the world's state as desksync does, from w.dir.
func (w *world) gitStore() *gitstate.Store {
	w.t.Helper()
	st, err := gitstate.Open(w.stateLoc, gitstate.Options{Dir: w.dir})
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// readGitState loads the state from the server; nil when there is none yet.
func (w *world) readGitState() *state.State {
	w.t.Helper()
	st, err := w.gitStore().Load(context.Background())
	if errors.Is(err, state.ErrNotExist) {
		return nil
	}
	if err != nil {
		w.t.Fatalf("state on %s does not load: %v", w.stateLoc, err)
	}
	return st
}

// loseWorkspace is a CI runner killed whole: the clone's repository, with every local
// ref and object desksync made, is gone, and the next run starts from a fresh clone.
// The work tree's files stay: they are what the next checkout brings back.
func (w *world) loseWorkspace(url string) {
	w.t.Helper()
	// A git that the killed desksync started may still be writing objects for a moment:
	// SIGKILL ends desksync, not its children.
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err = os.RemoveAll(filepath.Join(w.dir, ".git")); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		w.t.Fatal(err)
	}
	gittest.Run(w.t, w.dir, "init", "--quiet")
	gittest.Run(w.t, w.dir, "remote", "add", "origin", url)
}

// unlockGitStale removes, through the CLI, the lock ref a killed run left; "" when the
// run died before taking it.
func (w *world) unlockGitStale() string {
	w.t.Helper()
	info, err := w.gitStore().ReadLock(context.Background())
	if err != nil {
		return ""
	}
	out, errs, code := w.run("force-unlock", info.ID)
	if code != 0 || !strings.Contains(out, "Lock "+info.ID+" removed") {
		w.t.Fatalf("force-unlock %s exited %d\nstdout:\n%s\nstderr:\n%s", info.ID, code, out, errs)
	}
	if _, err := w.gitStore().ReadLock(context.Background()); err == nil {
		w.t.Fatal("lock ref still there after force-unlock")
	}
	return info.ID
}

// TestGitStateApply: apply records its uploads on the ref, a fresh clone plans no
// changes from it, and the lock ref is gone after the run.
func TestGitStateApply(t *testing.T) {
	w, url := newGitWorld(t, gittest.Daemon)
	w.seed(3)
	w.mustApply()
	if got := len(w.readState().Attachments); got != 3 {
		t.Fatalf("state on the ref records %d files, want 3", got)
	}
	w.loseWorkspace(url)
	w.checkConverged()
	if _, err := w.gitStore().ReadLock(context.Background()); err == nil {
		t.Error("the lock ref is still there after apply finished")
	}
	if out := gittest.Run(t, w.dir, "ls-remote", "origin"); !strings.Contains(out, "refs/desksync/state\n") && !strings.HasSuffix(out, "refs/desksync/state") || strings.Contains(out, "refs/heads/") {
		t.Errorf("the remote's refs after apply are\n%s\nwant refs/desksync/state and no branch", out)
	}
}

// TestGitStateConcurrentApply starts two applies of one manifest from two clones at
// once: the lock ref lets one run, the other is refused naming the holder, and every
// file is uploaded once.
func TestGitStateConcurrentApply(t *testing.T) {
	w, url := newGitWorld(t, gittest.Daemon)
	w.seed(4)
	w.srv.SetLatency(50 * time.Millisecond) // both runs are under way at once
	other := *w
	other.dir = gittest.Clone(t, url)
	for _, name := range append(sortedKeys(w.files), "desksync.yaml") {
		data, err := os.ReadFile(filepath.Join(w.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(other.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, waitA := w.startApply()
	_, waitB := other.startApply()
	codeA, _, errA := waitA()
	codeB, _, errB := waitB()
	refused := 0
	for _, r := range []struct {
		code int
		errs string
	}{{codeA, errA}, {codeB, errB}} {
		switch {
		case r.code == 0:
		case r.code == 1 && strings.Contains(r.errs, "state is locked by"):
			refused++
		default:
			t.Errorf("apply exited %d:\n%s", r.code, r.errs)
		}
	}
	if refused != 1 {
		t.Logf("refused %d of the two runs (the second may also have started after the first ended)", refused)
	}
	refs := 0
	for _, c := range w.tap.log() {
		if c.ep == "ref" {
			refs++
		}
	}
	if refs != 4 {
		t.Errorf("%d upload refs made for 4 files: both runs uploaded", refs)
	}
	w.checkConverged()
}

// TestGitStateKillEverywhere kills apply at each of its Desk calls in turn (and, with
// DESKSYNC_LONG_TESTS=1, with more files and also 5 ms after each call, inside the
// client's own work and its pushes), and loses
// the workspace after every kill, as a CI runner killed whole does. Each kill is followed
// by an apply from a fresh clone that must converge, leaving on Desk only the temp files
// the durability promise allows: with --parallelism 1, at most one per kill, a ref whose
// pending record had not reached the server.
func TestGitStateKillEverywhere(t *testing.T) {
	w, url := newGitWorld(t, gittest.Daemon)
	files, delays := 1, []time.Duration{0}
	if os.Getenv("DESKSYNC_LONG_TESTS") == "1" {
		files, delays = 3, []time.Duration{0, 5 * time.Millisecond}
	}
	w.seed(files)
	w.mustApply()
	rng := rand.New(rand.NewPCG(7, 7))
	var kills []kill
	locks, run := 0, 0
	for _, delay := range delays {
		for trigger := 1; ; trigger++ {
			// Every file changes, so that each run makes the same calls: a replace
			// per file (ref, upload, patch, then the old file's delete).
			for _, a := range sortedKeys(w.files) {
				w.files[a] = content(rng, tortureSizes[rng.IntN(len(tortureSizes))])
			}
			w.write()
			run++
			armed := w.tap.arm(run, trigger)
			cmd, wait := w.startApply("--parallelism=1")
			exited := make(chan struct{})
			var code int
			var errs string
			go func() { code, _, errs = wait(); close(exited) }()
			var killedAt, reaped time.Time
			select {
			case <-armed:
				time.Sleep(delay)
				killedAt = time.Now()
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				reaped = time.Now()
			case <-exited:
			}
			w.tap.settle(t)
			if killedAt.IsZero() {
				if code != 0 {
					t.Fatalf("run %d ended by itself with exit %d:\n%s", run, code, errs)
				}
				w.accountOrphans(w.checkConverged(), kills)
				break // the trigger is past the run's last call
			}
			calls := w.tap.log()
			w.loseWorkspace(url)
			kills = append(kills, kill{run: run, at: killedAt, reaped: reaped, step: step(calls, run, killedAt, reaped),
				recorded: ids(w.readState()), parallelism: 1})
			if w.unlockGitStale() != "" {
				locks++
			}
			run++
			w.tap.arm(run, 0)
			w.mustApply()
			w.accountOrphans(w.checkConverged(), kills)
		}
	}
	if locks == 0 {
		t.Error("no kill left a lock ref behind, so force-unlock of a dead run's lock went unchecked")
	}
	t.Logf("%d kills, %d left a lock; at most %d temp files left by one kill", len(kills), locks, w.worstKill)
}

// TestGitStateCost measures what the git home adds to an apply of 100 new files: the
// pushes, the bytes over HTTP and the time, against the same apply with a state file;
// once as fast as the emulator answers, once paced like Desk (each call 250 ms,
// --parallelism 1: about one upload a second). The figures are logged for
// docs/benchmarks.md; it runs with DESKSYNC_GITSTATE_COST=1 (three minutes of paced
// applies, too long for every CI run).
func TestGitStateCost(t *testing.T) {
	if os.Getenv("DESKSYNC_GITSTATE_COST") != "1" {
		t.Skip("four applies of 100 files; set DESKSYNC_GITSTATE_COST=1")
	}
	gittest.Isolate(t)
	const n = 100
	for _, pace := range []struct {
		name    string
		latency time.Duration
		args    []string
	}{
		{"unpaced", 0, nil},
		{"paced", 250 * time.Millisecond, []string{"--parallelism=1"}},
	} {
		args := append([]string{"apply", "--auto-approve"}, pace.args...)
		apply := func(w *world) time.Duration {
			w.srv.SetLatency(pace.latency)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd, _, errs := w.command(ctx, args...)
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("apply: %v\n%s", err, errs)
			}
			return time.Since(start)
		}
		plain := newWorld(t)
		plain.seed(n)
		fileTime := apply(plain)

		srv := gittest.New(t, gittest.HTTP)
		url := srv.NewRepo(t)
		w := newWorld(t)
		w.stateLoc = gitStateLoc
		w.dir = gittest.Clone(t, url)
		w.seed(n)
		gitTime := apply(w)
		tr := &srv.Traffic
		pushes := tr.Pushes.Load()
		t.Logf("%s apply of %d files: state file %v; git ref over http %v (+%v), %d pushes (%.1f ms each), %d fetches, %d requests, %d bytes sent to the server, %d received",
			pace.name, n, fileTime.Round(time.Millisecond), gitTime.Round(time.Millisecond), (gitTime - fileTime).Round(time.Millisecond),
			pushes, float64((gitTime-fileTime).Milliseconds())/float64(max(pushes, 1)), tr.Fetches.Load(), tr.Requests.Load(), tr.BytesIn.Load(), tr.BytesOut.Load())
		commits := gittest.Run(t, srv.RepoDir(url), "rev-list", "--count", "refs/desksync/state")
		t.Logf("%s: the state ref holds %s commits", pace.name, commits)
	}
}

// TestGitStateMigrate moves a committed state file onto the ref with state pull and
// state push; the manifest then plans no changes from the ref.
func TestGitStateMigrate(t *testing.T) {
	w, _ := newGitWorld(t, gittest.File)
	w.seed(2)
	w.stateLoc = ""
	w.mustApply()
	pulled, errs, code := w.run("state", "pull")
	if code != 0 {
		t.Fatalf("state pull exited %d: %s", code, errs)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "old.json"), []byte(pulled), 0o644); err != nil {
		t.Fatal(err)
	}
	w.stateLoc = gitStateLoc
	if out, errs, code := w.run("state", "push", "old.json"); code != 0 || !strings.Contains(out, "to "+gitStateLoc) {
		t.Fatalf("state push exited %d\n%s\n%s", code, out, errs)
	}
	if err := os.Remove(filepath.Join(w.dir, "desksync.state.json")); err != nil {
		t.Fatal(err)
	}
	w.checkConverged()
	if _, errs, code := w.run("state", "push", "old.json"); code != 1 || !strings.Contains(errs, "not older than") {
		t.Errorf("a second push of the same state exited %d, want it refused as not older:\n%s", code, errs)
	}
}
