package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/hint"
)

const testHost = "testhost"

// lockFile returns a File with a fixed clock and host name.
func lockFile(t *testing.T, now time.Time) *File {
	t.Helper()
	f := NewFile(filepath.Join(t.TempDir(), "s.json"))
	f.now = func() time.Time { return now }
	f.hostname = func() (string, error) { return testHost, nil }
	return f
}

func writeLock(t *testing.T, f *File, info LockInfo) {
	t.Helper()
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.LockPath(), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func doneContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestLockWritesHolder(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 2, 0, 0, time.UTC)
	f := lockFile(t, now)
	// Even with a done context, a free lock is taken: --lock-timeout 0 must still work.
	id, err := f.Lock(doneContext(), LockInfo{Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.ReadLock()
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || id == "" || info.Operation != "apply" || info.PID != os.Getpid() ||
		!strings.HasSuffix(info.Who, "@testhost") || len(info.Who) <= len("@testhost") || !info.Created.Equal(now) {
		t.Errorf("lock holds %+v (id %q)", info, id)
	}
	// A caller-chosen id and who are kept.
	g := lockFile(t, now)
	if id, err := g.Lock(context.Background(), LockInfo{ID: "fixed", Who: "ci@runner-7"}); err != nil || id != "fixed" {
		t.Fatalf("Lock = %q, %v", id, err)
	}
	if info, _ := g.ReadLock(); info == nil || info.Who != "ci@runner-7" {
		t.Errorf("lock holds %+v", info)
	}
}

func TestLockHeld(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 2, 0, 0, time.UTC)
	since := now.Add(-(3*time.Minute + 20*time.Second))
	const dead = 0x7ffffffe // above any pid_max, so never a live process
	tests := []struct {
		name      string
		holder    LockInfo
		raw       string // lock file content instead of holder
		wantErr   string
		wantHint  string
		wantStale bool
	}{
		{
			name:     "live holder here",
			holder:   LockInfo{ID: "7f3c", Operation: "apply", Who: "ci@testhost", PID: os.Getpid(), Created: since},
			wantErr:  fmt.Sprintf("state is locked by ci@testhost (apply, pid %d, since 2026-11-26T09:58:40Z, 3m20s ago)", os.Getpid()),
			wantHint: `wait for it to finish (--lock-timeout waits for you), or if that run is dead run "desksync force-unlock 7f3c"`,
		},
		{
			name:      "dead holder here",
			holder:    LockInfo{ID: "7f3c", Operation: "refresh", Who: "ci@testhost", PID: dead, Created: since},
			wantErr:   "state is locked by ci@testhost (refresh, pid 2147483646, since 2026-11-26T09:58:40Z, 3m20s ago)",
			wantHint:  `the lock looks stale: process 2147483646 is no longer running on this host; run "desksync force-unlock 7f3c"`,
			wantStale: true,
		},
		{
			name:     "holder on another host",
			holder:   LockInfo{ID: "7f3c", Operation: "apply", Who: "ci@runner-7", PID: dead, Created: since},
			wantErr:  "state is locked by ci@runner-7 (apply, pid 2147483646, since 2026-11-26T09:58:40Z, 3m20s ago)",
			wantHint: `wait for it to finish (--lock-timeout waits for you), or if that run is dead run "desksync force-unlock 7f3c"`,
		},
		{
			name:     "unparseable lock",
			raw:      "{garbage",
			wantErr:  "state is locked: lock file DIR/s.json.lock exists but does not parse: lock file does not parse: invalid character 'g' at start of value after offset 1",
			wantHint: `if no desksync run is using this state, remove DIR/s.json.lock (or run "desksync force-unlock ID" with the id inside it)`,
		},
		{
			name:     "pid past 32 bits",
			raw:      `{"id": "7f3c", "operation": "apply", "who": "ci@testhost", "pid": 4294967295, "created": "2026-11-26T09:58:40Z"}`,
			wantErr:  "state is locked: lock file DIR/s.json.lock exists but does not parse: lock file has pid 4294967295, which is no process id",
			wantHint: `if no desksync run is using this state, remove DIR/s.json.lock (or run "desksync force-unlock ID" with the id inside it)`,
		},
		{
			name:     "empty lock",
			raw:      "",
			wantErr:  "state is locked: lock file DIR/s.json.lock exists but does not parse: lock file is empty",
			wantHint: `if no desksync run is using this state, remove DIR/s.json.lock (or run "desksync force-unlock ID" with the id inside it)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := lockFile(t, now)
			if tt.holder.ID != "" {
				writeLock(t, f, tt.holder)
			} else if err := os.WriteFile(f.LockPath(), []byte(tt.raw), 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(f.LockPath())
			dir := filepath.Dir(f.Path())
			start := time.Now()
			_, err := f.Lock(doneContext(), LockInfo{Operation: "apply"})
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Lock with a done context took %v, want at once", took)
			}
			var le *LockedError
			if !errors.As(err, &le) {
				t.Fatalf("Lock = %v (%T), want *LockedError", err, err)
			}
			if want := strings.ReplaceAll(tt.wantErr, "DIR", dir); err.Error() != want {
				t.Errorf("error\n got: %s\nwant: %s", err, want)
			}
			if want := strings.ReplaceAll(tt.wantHint, "DIR", dir); le.Hint() != want {
				t.Errorf("hint\n got: %s\nwant: %s", le.Hint(), want)
			}
			if le.Stale != tt.wantStale {
				t.Errorf("Stale = %v, want %v", le.Stale, tt.wantStale)
			}
			if after, _ := os.ReadFile(f.LockPath()); string(after) != string(before) {
				t.Errorf("a failed Lock changed the lock file to %q", after)
			}
		})
	}
}

func TestLockWaitsWhileContextAllows(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), "s.json"))
	first, err := f.Lock(context.Background(), LockInfo{Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}

	// Never released: fails once the timeout is over, not before. (start is taken first:
	// the context's deadline counts from its creation.)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = f.Lock(ctx, LockInfo{Operation: "refresh"})
	var le *LockedError
	if !errors.As(err, &le) || le.Info.ID != first {
		t.Fatalf("Lock = %v, want *LockedError naming %s", err, first)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the context's 300ms", took)
	}

	// Released while waiting: succeeds. The sleep only makes Lock find the lock held
	// (were it late, Lock would succeed at once, as it should); the deadline is 50x
	// the release plus a poll (lockPoll and its jitter), and costs nothing on success.
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.Unlock(first)
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second, err := f.Lock(ctx, LockInfo{Operation: "refresh"})
	if err != nil {
		t.Fatalf("Lock after release = %v", err)
	}
	if second == first {
		t.Errorf("second lock reused id %s", first)
	}
	if info, err := f.ReadLock(); err != nil || info.Operation != "refresh" {
		t.Errorf("ReadLock = %+v, %v", info, err)
	}
}

func TestUnlockAndForceUnlock(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), "s.json"))
	id, err := f.Lock(context.Background(), LockInfo{Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	forceUnlock := func(id string) error { return f.ForceUnlock(id, false) }
	for name, unlock := range map[string]func(string) error{"Unlock": f.Unlock, "ForceUnlock": forceUnlock} {
		err := unlock("wrong")
		var ie *LockIDError
		want := fmt.Sprintf("%s: lock id is %q, not \"wrong\"; the lock was not removed", f.LockPath(), id)
		if !errors.As(err, &ie) || err.Error() != want {
			t.Errorf("%s(wrong)\n got: %v\nwant: %s", name, err, want)
		}
		if want := fmt.Sprintf(`check who holds it first; to remove it anyway run "desksync force-unlock %s"`, id); ie != nil && ie.Hint() != want {
			t.Errorf("hint %q, want %q", ie.Hint(), want)
		}
		if _, err := os.Stat(f.LockPath()); err != nil {
			t.Errorf("%s with the wrong id removed the lock: %v", name, err)
		}
	}
	if err := f.ForceUnlock(id, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.LockPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ForceUnlock left the lock: %v", err)
	}
	err = f.Unlock(id)
	want := "unlocking state: " + f.LockPath() + " does not exist, the state is not locked: open " + f.LockPath() + ": no such file or directory"
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != want {
		t.Errorf("Unlock without a lock\n got: %v\nwant: %s", err, want)
	}
	if _, err := f.ReadLock(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadLock without a lock = %v, want fs.ErrNotExist", err)
	}
}

func TestLockFolderMissing(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), "missing", "s.json"))
	_, err := f.Lock(context.Background(), LockInfo{})
	want := "taking the state lock " + f.LockPath() + ": open " + f.LockPath() + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("Lock\n got: %v\nwant: %s", err, want)
	}
}

// TestLockRemovesLeftovers: a run killed inside Save leaves its temp files; the next
// lock holder removes them, and nothing else.
func TestLockRemovesLeftovers(t *testing.T) {
	f := lockFile(t, time.Now())
	dir := filepath.Dir(f.Path())
	leftovers := []string{"s.json.tmp-1617116355", "s.json.backup.tmp-3f3bdb50-7487-4220-88da-0c0f0aeb9cf9"}
	kept := []string{"s.json", "s.json.backup", "s.json.tmpl", "other.json.tmp-1", "s.jsonx.tmp-2"}
	for _, name := range append(slices.Clone(leftovers), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "s.json.tmp-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, "s.json.tmp-dir")

	// While another run holds the lock, its temp files are not touched.
	writeLock(t, f, LockInfo{ID: "other", Who: "ci@elsewhere", PID: 1, Created: time.Now()})
	if _, err := f.Lock(doneContext(), LockInfo{Operation: "apply"}); err == nil {
		t.Fatal("took a held lock")
	}
	for _, name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed while another run held the lock: %v", name, err)
		}
	}
	if err := f.ForceUnlock("other", false); err != nil {
		t.Fatal(err)
	}

	if _, err := f.Lock(context.Background(), LockInfo{Operation: "apply"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover %s still there after Lock (%v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed by Lock: %v", name, err)
		}
	}
}

// TestLockAppearsWhole: the lock file is never seen without its holder, so a run killed
// while taking the lock cannot leave an empty lock that force-unlock has no id for.
func TestLockAppearsWhole(t *testing.T) {
	f := lockFile(t, time.Now())
	stop := make(chan struct{})
	seen := make(chan string, 1)
	go func() {
		defer close(seen)
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(f.LockPath())
			if err == nil && len(data) == 0 {
				seen <- "an empty lock file"
				return
			}
		}
	}()
	for range 200 {
		id, err := f.Lock(context.Background(), LockInfo{Operation: "apply"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Unlock(id); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if what, ok := <-seen; ok {
		t.Errorf("a reader saw %s", what)
	}
	fi, err := os.Stat(filepath.Dir(f.Path()))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(f.Path()))
	for _, e := range entries {
		t.Errorf("left in %s: %s", fi.Name(), e.Name())
	}
	// The lock is readable by others, as the exclusive create made it.
	if _, err := f.Lock(context.Background(), LockInfo{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(f.LockPath()); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("lock mode %v (%v), want 0644", st.Mode().Perm(), err)
	}
}

// Before the fix, force-unlock removed a live run's lock, and a third apply ran beside
// it. A holder whose pid is alive on this host (here: this test) keeps its lock unless
// --force; a dead one, or one on another host, does not.
func TestForceUnlockRefusesLiveHolder(t *testing.T) {
	tests := []struct {
		name    string
		who     string
		pid     int
		force   bool
		refused bool
	}{
		{"alive here", "ci@" + testHost, os.Getpid(), false, true},
		{"alive here, --force", "ci@" + testHost, os.Getpid(), true, false},
		{"dead here", "ci@" + testHost, deadPID(t), false, false},
		{"other host", "ci@elsewhere", os.Getpid(), false, false},
		{"no host in who", "ci", os.Getpid(), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := lockFile(t, time.Now())
			created := time.Date(2026, 11, 26, 10, 2, 0, 0, time.UTC)
			writeLock(t, f, LockInfo{ID: "7f3c", Operation: "apply", Who: tt.who, PID: tt.pid, Created: created})
			err := f.ForceUnlock("7f3c", tt.force)
			_, statErr := os.Stat(f.LockPath())
			if !tt.refused {
				if err != nil || !errors.Is(statErr, fs.ErrNotExist) {
					t.Fatalf("ForceUnlock = %v, lock file: %v; want it removed", err, statErr)
				}
				return
			}
			var ae *HolderAliveError
			want := fmt.Sprintf("not removing %s: its holder %s (apply, pid %d, since 2026-11-26T10:02:00Z) is still running on this host", f.LockPath(), tt.who, tt.pid)
			if !errors.As(err, &ae) || err.Error() != want {
				t.Errorf("ForceUnlock\n got: %v\nwant: %s", err, want)
			}
			if h := hint.Of(err); len(h) != 1 || !strings.Contains(h[0], `"desksync force-unlock --force 7f3c"`) {
				t.Errorf("hint = %q, want one naming --force", h)
			}
			if statErr != nil {
				t.Errorf("a refused ForceUnlock removed the lock: %v", statErr)
			}
		})
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestHolderAlive(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name")
	}
	uint32Max := uint32(1<<32 - 1) // a variable, so that int(uint32Max) compiles on 32-bit platforms
	for _, tt := range []struct {
		info LockInfo
		want bool
	}{
		{LockInfo{Who: "ci@" + host, PID: os.Getpid()}, true},
		{LockInfo{Who: "ci@" + host, PID: deadPID(t)}, false},
		{LockInfo{Who: "ci@not-" + host, PID: os.Getpid()}, false},
		{LockInfo{Who: "ci@" + host}, false},
		// The S3 store's lock reaches HolderAlive without readLock's pid check.
		{LockInfo{Who: "ci@" + host, PID: int(uint32Max)}, false},
	} {
		if got := HolderAlive(tt.info); got != tt.want {
			t.Errorf("HolderAlive(%+v) = %v, want %v", tt.info, got, tt.want)
		}
	}
}
