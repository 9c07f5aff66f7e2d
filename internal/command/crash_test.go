//go:build unix

package command

// Crash-safety tests (docs/crash-safety.md): desksync apply runs as a real
// subprocess (the test binary, which TestMain puts on PATH as "desksync") against a
// Desk emulator served from this process, and is killed, interrupted or raced.
// Afterwards the state file must parse and the next apply must converge to exactly
// one active Desk file per address, with the right bytes, and no leftovers.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/syncbuf"
	"github.com/desksync/desksync/state"
)

var crashSeed = flag.Uint64("crash.seed", 0, "seed of TestCrashTorture's kill schedule; 0 picks one from the clock (it is logged)")

// call is one request the tap saw, with what the emulator's own request log lacks:
// when the answer was complete, and the file id a ref answered with.
type call struct {
	run        int
	ep         string // ref, upload, patch, get, delete, or other
	start, end time.Time
	refID      int64
}

// tap sits in front of the emulator. It logs every call, counts the calls of the
// current run so that a kill can be armed at the n-th one, and can act after the
// emulator handled a call but before its answer leaves (the answer of a small JSON
// call stays in the server's buffer until the handler returns).
type tap struct {
	next http.Handler

	mu       sync.Mutex
	calls    []*call
	run      int
	count    int // calls of the current run
	trigger  int // the call that closes armed; 0 means none
	armed    chan struct{}
	inflight int
	// after runs once the emulator has handled a call, before the answer is sent.
	after func(c *call)
}

func endpointOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/files/ref.json"):
		return "ref"
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/s3/"):
		return "upload"
	case strings.HasPrefix(p, "/desk/api/v2/files/"):
		return strings.ToLower(r.Method)
	}
	return "other"
}

func (tp *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{ep: endpointOf(r), start: time.Now()}
	tp.mu.Lock()
	c.run = tp.run
	tp.calls = append(tp.calls, c)
	tp.count++
	tp.inflight++
	if tp.trigger > 0 && tp.count == tp.trigger {
		close(tp.armed)
	}
	after := tp.after
	tp.mu.Unlock()

	rec := &recordWriter{ResponseWriter: w, keep: c.ep == "ref"}
	tp.next.ServeHTTP(rec, r)
	if c.ep == "ref" {
		var body struct {
			File struct {
				ID int64 `json:"id"`
			} `json:"file"`
		}
		if json.Unmarshal(rec.body.Bytes(), &body) == nil {
			c.refID = body.File.ID
		}
	}
	if after != nil {
		after(c)
	}
	tp.mu.Lock()
	c.end = time.Now()
	tp.inflight--
	tp.mu.Unlock()
}

// setAfter sets (or, with nil, clears) the hook run after the emulator handled a call.
func (tp *tap) setAfter(fn func(c *call)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.after = fn
}

// arm starts run number run; the call numbered trigger (from 1) closes the returned
// channel.
func (tp *tap) arm(run, trigger int) <-chan struct{} {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.run, tp.count, tp.trigger = run, 0, trigger
	tp.armed = make(chan struct{})
	return tp.armed
}

// settle waits until no call is being handled, so that the log is complete once a
// killed client's connections have been noticed.
func (tp *tap) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tp.mu.Lock()
		n := tp.inflight
		tp.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still in the emulator 5 s after the client died", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (tp *tap) log() []*call {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([]*call, len(tp.calls))
	for i, c := range tp.calls {
		cc := *c
		out[i] = &cc
	}
	return out
}

// step names where in the protocol a kill sent at `at` landed: inside the call that
// was being answered (the latest started, if several; one that reached the tap after
// the signal but before the process was reaped was on the wire), or just after the
// last answered call (the client's own work: saving state, hashing, opening the next
// request).
func step(calls []*call, run int, at, reaped time.Time) string {
	var inside, before *call
	for _, c := range calls {
		if c.run != run || c.start.After(reaped) {
			continue
		}
		if c.end.IsZero() || c.end.After(at) {
			if inside == nil || c.start.After(inside.start) {
				inside = c
			}
		} else if before == nil || c.end.After(before.end) {
			before = c
		}
	}
	switch {
	case inside != nil:
		return "in " + inside.ep
	case before != nil:
		return "after " + before.ep
	}
	return "before any request"
}

// recordWriter copies the body of answers the tap wants to read. Unwrap lets the
// emulator's dropped-connection faults reach the real connection.
type recordWriter struct {
	http.ResponseWriter
	keep bool
	body bytes.Buffer
}

func (w *recordWriter) Write(b []byte) (int, error) {
	if w.keep {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *recordWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// world is one crash test's emulator, tap and manifest folder.
type world struct {
	t   *testing.T
	srv *desktest.Server
	tap *tap
	url string
	dir string
	// files is what the manifest lists: address -> content; inline marks the
	// entries with disposition attachment-inline.
	files  map[string][]byte
	inline map[string]bool
	// accounted is the orphaned temp files already explained, so each is logged once;
	// worstKill is the most of them one kill left.
	accounted map[int64]bool
	worstKill int
	// stateLoc, when set, is the --state location (DESKSYNC_STATE) every run uses
	// instead of the state file in dir: a git: ref.
	stateLoc string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	if _, err := exec.LookPath("desksync"); err != nil {
		t.Fatalf("desksync is not on PATH (TestMain installs it): %v", err)
	}
	srv := desktest.New(desktest.Options{APIKey: scriptAPIKey})
	tp := &tap{next: srv, armed: make(chan struct{})}
	ts := httptest.NewServer(tp)
	t.Cleanup(ts.Close)
	return &world{t: t, srv: srv, tap: tp, url: ts.URL, dir: t.TempDir(),
		files: map[string][]byte{}, inline: map[string]bool{}, accounted: map[int64]bool{}}
}

func (w *world) statePath() string { return filepath.Join(w.dir, "desksync.state.json") }
func (w *world) lockPath() string  { return w.statePath() + ".lock" }

// write puts w.files on disk and writes the manifest listing them; files no longer
// listed are removed from disk.
func (w *world) write() {
	w.t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nattachments:\n")
	for _, addr := range sortedKeys(w.files) {
		fmt.Fprintf(&b, "  - path: %s\n", addr)
		if w.inline[addr] {
			b.WriteString("    disposition: attachment-inline\n")
		}
		p := filepath.Join(w.dir, filepath.FromSlash(addr))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, w.files[addr], 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.dir, "desksync.yaml"), []byte(b.String()), 0o644); err != nil {
		w.t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(w.dir, "files", "*"))
	for _, p := range entries {
		rel, _ := filepath.Rel(w.dir, p)
		if _, ok := w.files[filepath.ToSlash(rel)]; !ok {
			os.Remove(p)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// command is desksync with args, run in the manifest folder against the emulator.
func (w *world) command(ctx context.Context, args ...string) (*exec.Cmd, *syncbuf.Buffer, *syncbuf.Buffer) {
	cmd := exec.CommandContext(ctx, "desksync", args...)
	cmd.Dir = w.dir
	// A -race binary sleeps a second at exit (GORACE atexit_sleep_ms) in case other
	// goroutines still report; dozens of short runs cannot afford that.
	env := []string{"DESK_URL=" + w.url, "DESK_API_KEY=" + scriptAPIKey, "NO_COLOR=1",
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DESK") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	if w.stateLoc != "" {
		env = append(env, "DESKSYNC_STATE="+w.stateLoc)
	}
	cmd.Env = env
	var stdout, stderr syncbuf.Buffer // read while desksync runs, by waitStderr
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs desksync to its end and returns its output and exit status.
func (w *world) run(args ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, out, errb := w.command(ctx, args...)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		w.t.Fatalf("desksync %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// mustApply runs apply to completion and fails the test unless it succeeds.
func (w *world) mustApply() {
	w.t.Helper()
	if out, errs, code := w.run("apply", "--auto-approve", "--max-delete=100%"); code != 0 {
		w.t.Fatalf("apply exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// readState loads the state as desksync does, the state file and its journal, failing
// the test if they do not load; nil when there is none yet.
func (w *world) readState() *state.State {
	w.t.Helper()
	if w.stateLoc != "" {
		return w.readGitState()
	}
	st, err := state.NewFile(w.statePath()).Load(context.Background())
	if errors.Is(err, state.ErrNotExist) {
		return nil
	}
	if err != nil {
		data, _ := os.ReadFile(w.statePath())
		journal, _ := os.ReadFile(w.statePath() + ".journal")
		w.t.Fatalf("state does not load: %v\n%s\njournal:\n%s", err, data, journal)
	}
	return st
}

// stateKillPoints are the steps of a state write at which a desksync run by these tests
// kills itself when DESKSYNC_TEST_KILL_AT=STEP:N is set (state/killhook.go): inside an
// append to the journal (before the write, with half of it written, before the fsync)
// and inside a compaction or whole save (temp file written, synced, backup made,
// renamed, folder synced, journal about to be removed).
var stateKillPoints = []string{"journal-write", "journal-torn", "journal-sync",
	"write", "sync", "backup", "rename", "syncdir", "journal-remove"}

// isJournalStep reports whether step is reached only by an append.
func isJournalStep(step string) bool {
	return strings.HasPrefix(step, "journal-") && step != "journal-remove"
}

// killedBySignal reports whether err is the exit of a process SIGKILL ended.
func killedBySignal(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() &&
		ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
}

// ids is every Desk file id st records.
func ids(st *state.State) map[int64]bool {
	out := map[int64]bool{}
	if st == nil {
		return out
	}
	for _, a := range st.Attachments {
		out[a.ID] = true
	}
	for _, p := range st.Pending {
		out[p.ID] = true
	}
	for _, d := range st.Deposed {
		out[d.ID] = true
	}
	return out
}

// unlockStale removes the lock a killed run left, through the CLI, and returns its id
// ("" when the run died before taking it).
func (w *world) unlockStale() string {
	w.t.Helper()
	info, err := state.NewFile(w.statePath()).ReadLock()
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		w.t.Fatalf("reading the lock a killed apply left: %v", err)
	}
	out, errs, code := w.run("force-unlock", info.ID)
	if code != 0 || !strings.Contains(out, "Lock "+info.ID+" removed") {
		w.t.Fatalf("force-unlock %s exited %d\nstdout:\n%s\nstderr:\n%s", info.ID, code, out, errs)
	}
	if _, err := os.Stat(w.lockPath()); !errors.Is(err, os.ErrNotExist) {
		w.t.Fatalf("lock file still there after force-unlock: %v", err)
	}
	return info.ID
}

// orphan is a temp file that nothing records, with the ref call that made it.
type orphan struct {
	id  int64
	ref *call
}

// checkConverged asserts the promise of docs/crash-safety.md: the state holds exactly the manifest's
// addresses, each the one active Desk file with the local bytes, nothing pending or
// deposed, no other active file on Desk, and a fresh plan has no changes. Temp files
// left on Desk are returned for the caller to account for.
func (w *world) checkConverged() []orphan {
	w.t.Helper()
	st := w.readState()
	if st == nil {
		w.t.Fatal("no state file after a completed apply")
	}
	if len(st.Pending) != 0 || len(st.Deposed) != 0 {
		w.t.Errorf("state still has pending %v / deposed %v", st.Pending, st.Deposed)
	}
	if got, want := sortedKeys(st.Attachments), sortedKeys(w.files); !slices.Equal(got, want) {
		w.t.Errorf("state addresses %v, want the manifest's %v", got, want)
	}
	files := map[int64]desktest.FileRecord{}
	for _, f := range w.srv.Files() {
		files[f.ID] = f
	}
	owner := map[int64]string{}
	for addr, a := range st.Attachments {
		owner[a.ID] = addr
		f, ok := files[a.ID]
		switch {
		case !ok:
			w.t.Errorf("%s: state has id %d, Desk has no such file", addr, a.ID)
			continue
		case f.State != "active":
			w.t.Errorf("%s: Desk file %d is %s, want active", addr, a.ID, f.State)
		}
		want := w.files[addr]
		sum := md5.Sum(want)
		if f.MD5 != hex.EncodeToString(sum[:]) || f.Size != int64(len(want)) || a.Size != int64(len(want)) {
			w.t.Errorf("%s: Desk file %d has %d bytes md5 %s (state says %d bytes), local file has %d bytes md5 %x",
				addr, a.ID, f.Size, f.MD5, a.Size, len(want), sum)
		}
		if content, err := w.srv.Content(a.ID); err != nil || !bytes.Equal(content, want) {
			w.t.Errorf("%s: Desk file %d content differs from the local file (err %v)", addr, a.ID, err)
		}
		wantDisp := "attachment"
		if w.inline[addr] {
			wantDisp = "attachment-inline"
		}
		if f.Disposition != wantDisp || a.Disposition != wantDisp {
			w.t.Errorf("%s: disposition on Desk %q, in state %q, want %q", addr, f.Disposition, a.Disposition, wantDisp)
		}
	}
	var orphans []orphan
	refs := map[int64]*call{}
	for _, c := range w.tap.log() {
		if c.refID != 0 {
			refs[c.refID] = c
		}
	}
	for _, f := range files {
		switch {
		case f.State == "active" && owner[f.ID] == "":
			w.t.Errorf("extra active file on Desk: %d %s (%d bytes), recorded for no address", f.ID, f.Filename, f.Size)
		case f.State == "temp":
			orphans = append(orphans, orphan{id: f.ID, ref: refs[f.ID]})
			if f.MD5 != "" {
				w.t.Errorf("temp file %d (%s) left on Desk holds an uploaded object; an upload starts only after its pending record is saved, so the state should have recorded it", f.ID, f.Filename)
			}
		}
	}
	if out, errs, code := w.run("plan", "--detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes.") {
		w.t.Errorf("plan after a completed apply exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	slices.SortFunc(orphans, func(a, b orphan) int { return int(a.id - b.id) })
	return orphans
}

// content makes n deterministic pseudo-random bytes (text-ish, so any extension's
// MIME type fits).
func content(rng *rand.Rand, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

// sizes are the torture manifest's file sizes: a byte to a couple of MiB, so that
// kills land in small and large S3 POSTs alike.
var tortureSizes = []int{1, 17, 512, 4 << 10, 20 << 10, 64 << 10, 100 << 10, 256 << 10, 512 << 10, 900 << 10, 1 << 20, 2 << 20}

// mutate changes the world the way a stream of commits would: new content for some
// files (replace), a flipped disposition (update), one file removed (delete) and one
// added back (create).
func (w *world) mutate(rng *rand.Rand, round int) {
	addrs := sortedKeys(w.files)
	for range 1 + rng.IntN(3) {
		a := addrs[rng.IntN(len(addrs))]
		w.files[a] = content(rng, tortureSizes[rng.IntN(len(tortureSizes))])
	}
	a := addrs[rng.IntN(len(addrs))]
	w.inline[a] = !w.inline[a]
	if len(w.files) > 11 {
		gone := addrs[rng.IntN(len(addrs))]
		delete(w.files, gone)
		delete(w.inline, gone)
	} else {
		w.files[fmt.Sprintf("files/new-%02d.txt", round)] = content(rng, tortureSizes[rng.IntN(len(tortureSizes))])
	}
}

// kill is one SIGKILL that landed while apply was running.
type kill struct {
	run int
	// at is when the signal was sent, reaped when Wait saw the process gone; a
	// request the client wrote just before it died can reach the tap in between.
	at, reaped time.Time
	step       string
	// parallelism is the run's --parallelism. apply keeps up to 8 actions per turn
	// under way while they wait for a state save (1 in all with --parallelism 1; see
	// openActions in apply/run.go), so that many refs at most can be between their
	// answer and their pending record at once.
	parallelism int
	// recorded is every Desk file id the state recorded right after the kill.
	recorded map[int64]bool
}

// TestCrashTorture kills apply with SIGKILL at random moments, again and again, and
// checks after every kill that the state parses and the lock can be removed, and at
// the end (and whenever an apply finishes by itself) that everything converged.
//
// Known gap, asserted rather than hidden: Desk creates a temp file when it answers a
// ref, and desksync can record it only once the answer has arrived. A kill in between
// leaves a temp file nothing records, and Desk has no endpoint to list it by. Such a
// file is allowed only when the tap shows that its ref was made by a killed run before
// the kill, the state saved by that run does not name it, and it never received an
// upload (desksync uploads only after recording the pending entry). Anything else on
// Desk that the state does not own fails the test. docs/crash-safety.md has the
// reasoning.
func TestCrashTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("kills apply dozens of times; skipped in -short")
	}
	minKills := 36
	if os.Getenv("DESKSYNC_LONG_TESTS") != "" {
		minKills = 200
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := newWorld(t)
	for i, size := range tortureSizes {
		ext := []string{"txt", "svg", "json", "md", "csv", "png"}[i%6]
		w.files[fmt.Sprintf("files/f%02d.%s", i, ext)] = content(rng, size)
	}
	w.inline["files/f01.svg"] = true
	w.write()

	started := time.Now()
	var kills []kill
	steps := map[string]int{}
	lastCount := 40
	rounds, completed := 0, 0
	staleChecked := false
	for run := 1; len(kills) < minKills; run++ {
		if run > 400 {
			t.Fatalf("only %d kills in %d runs: the kill schedule misses apply", len(kills), run)
		}
		w.srv.SetLatency(time.Duration(5+rng.IntN(26)) * time.Millisecond)
		trigger := 1 + rng.IntN(max(lastCount*2, 6))
		delay := time.Duration(rng.IntN(40)) * time.Millisecond
		if rng.IntN(7) == 0 {
			// Now and then a kill by the clock alone, to land in start-up, locking,
			// hashing and planning too.
			trigger, delay = 0, time.Duration(rng.IntN(250))*time.Millisecond
		}
		// Now and then a kill from inside a state write instead, at the n-th time the
		// run reaches one of its steps.
		var killAt string
		if rng.IntN(4) == 0 {
			killAt = fmt.Sprintf("%s:%d", stateKillPoints[rng.IntN(len(stateKillPoints))], 1+rng.IntN(6))
			trigger, delay = 0, time.Hour
		}
		armed := w.tap.arm(run, trigger)
		par := 1 + rng.IntN(4)
		// Several rounds of changes can pile up between applies that finish; the
		// mass-delete guard is not what this test is about.
		args := []string{"apply", "--auto-approve", "--max-delete=100%", fmt.Sprintf("--parallelism=%d", par)}

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd, stdout, stderr := w.command(ctx, args...)
		if killAt != "" {
			cmd.Env = append(cmd.Env, "DESKSYNC_TEST_KILL_AT="+killAt)
		}
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var clock <-chan time.Time
		if trigger == 0 {
			armed, clock = nil, time.After(delay)
		}
		var killedAt, reaped time.Time
		var err error
		select {
		case <-armed:
			time.Sleep(delay)
			killedAt = time.Now()
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err = <-exited
			reaped = time.Now()
		case <-clock:
			killedAt = time.Now()
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err = <-exited
			reaped = time.Now()
		case err = <-exited:
			killedAt, reaped = time.Now(), time.Now()
		}
		cancel()
		w.tap.settle(t)
		calls := w.tap.log()
		n := 0
		for _, c := range calls {
			if c.run == run {
				n++
			}
		}

		if !killedBySignal(err) {
			// apply finished before the kill: it must have succeeded and converged.
			if err != nil {
				t.Fatalf("run %d (%v) ended by itself with %v\nstdout:\n%s\nstderr:\n%s", run, args, err, stdout, stderr)
			}
			completed++
			w.accountOrphans(w.checkConverged(), kills)
			rounds++
			w.mutate(rng, rounds)
			w.write()
			lastCount = max(n, 6)
			continue
		}

		// The state on disk is the last good one: it parses.
		st := w.readState()
		k := kill{run: run, at: killedAt, reaped: reaped, step: step(calls, run, killedAt, reaped), recorded: ids(st), parallelism: par}
		if killAt != "" {
			k.step = "in state " + strings.Split(killAt, ":")[0]
		}
		kills = append(kills, k)
		steps[k.step]++
		lastCount = max(n, 3)

		// The killed run's lock is stale: a new apply is refused with the
		// diagnostics and the force-unlock hint (checked once, it costs a run).
		if info, err := state.NewFile(w.statePath()).ReadLock(); err == nil && !staleChecked {
			staleChecked = true
			_, errs, code := w.run("apply", "--auto-approve")
			for _, want := range []string{
				fmt.Sprintf("pid %d", info.PID),
				"the lock looks stale: process " + fmt.Sprint(info.PID) + " is no longer running on this host",
				`run "desksync force-unlock ` + info.ID + `"`,
			} {
				if code != 1 || !strings.Contains(errs, want) {
					t.Errorf("apply over a killed run's lock exited %d, stderr lacks %q:\n%s", code, want, errs)
				}
			}
		}
		w.unlockStale()

		// Sometimes the next commit changes files before apply runs again, so that
		// pending uploads of outdated content are cleaned up rather than adopted.
		if rng.IntN(5) == 0 {
			rounds++
			w.mutate(rng, rounds)
			w.write()
		}
	}

	if !staleChecked {
		t.Error("no kill left a lock behind, so the stale-lock diagnostics went unchecked")
	}
	w.mustApply()
	orphans := w.checkConverged()
	w.accountOrphans(orphans, kills)
	// Saves cut short leave temp files; the next run's lock removes them.
	if left, _ := filepath.Glob(w.statePath() + "*.tmp-*"); len(left) > 0 {
		t.Errorf("temp files of killed state saves left beside the state: %v", left)
	}

	var names []string
	for s, n := range steps {
		names = append(names, fmt.Sprintf("%s: %d", s, n))
	}
	sort.Strings(names)
	t.Logf("seed %d: %d kill points in %d distinct steps (%s); %d applies finished by themselves; %d unrecordable temp files (at most %d from one kill); %v",
		seed, len(kills), len(steps), strings.Join(names, ", "), completed, len(orphans), w.worstKill, time.Since(started).Round(time.Millisecond))
	// At least four distinct steps (six to nine are usual): fewer means the kill schedule
	// has stopped reaching inside the protocol, and the test would prove little.
	if len(steps) < 4 {
		t.Errorf("kills landed in only %d distinct steps (%v); the schedule should reach ref, upload, patch, delete and the client's own work", len(steps), names)
	}
}

// maxUnrecorded is how many refs a run killed with --parallelism par can have between
// their answer and their pending record: one per action under way.
func maxUnrecorded(par int) int {
	if par == 1 {
		return 1
	}
	return 8 * par
}

// accountOrphans fails the test for every temp file left on Desk that is not the
// known, unrecordable case (see TestCrashTorture).
func (w *world) accountOrphans(orphans []orphan, kills []kill) {
	w.t.Helper()
	byRun := map[int]kill{}
	for _, k := range kills {
		byRun[k.run] = k
	}
	perRun := map[int]int{}
	for _, o := range orphans {
		if w.accounted[o.id] {
			continue
		}
		w.accounted[o.id] = true
		if o.ref == nil {
			w.t.Errorf("temp file %d on Desk was made by no logged ref", o.id)
			continue
		}
		k, killed := byRun[o.ref.run]
		switch {
		case !killed:
			w.t.Errorf("temp file %d was made by run %d, which was not killed: apply itself left it behind", o.id, o.ref.run)
		case o.ref.start.After(k.reaped):
			w.t.Errorf("temp file %d: its ref started after the killed run %d was gone", o.id, k.run)
		case k.recorded[o.id]:
			w.t.Errorf("temp file %d was recorded in the state after the kill of run %d, yet the next apply left it on Desk", o.id, k.run)
		case perRun[k.run] >= maxUnrecorded(k.parallelism):
			w.t.Errorf("temp file %d: run %d left more than %d unrecorded refs, more actions than --parallelism=%d keeps under way",
				o.id, k.run, maxUnrecorded(k.parallelism), k.parallelism)
		default:
			perRun[k.run]++
			w.worstKill = max(w.worstKill, perRun[k.run])
			gap := "in flight at the kill"
			if !o.ref.end.IsZero() && !o.ref.end.After(k.at) {
				gap = fmt.Sprintf("answered %v before the kill", k.at.Sub(o.ref.end).Round(time.Microsecond))
			}
			w.t.Logf("unrecordable temp file %d: ref of run %d %s (kill landed %s)", o.id, k.run, gap, k.step)
		}
	}
}

// startApply starts desksync apply in the background; wait returns its exit status
// and output once it ends (failing the test after a minute).
func (w *world) startApply(args ...string) (cmd *exec.Cmd, wait func() (code int, stdout, stderr string)) {
	w.t.Helper()
	cmd, _, wait = w.startApplyStderr(args...)
	return cmd, wait
}

// startApplyStderr is startApply that also hands out the stderr desksync is writing.
func (w *world) startApplyStderr(args ...string) (cmd *exec.Cmd, stderr *syncbuf.Buffer, wait func() (code int, stdout, stderr string)) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd, out, errb := w.command(ctx, append([]string{"apply", "--auto-approve"}, args...)...)
	if err := cmd.Start(); err != nil {
		cancel()
		w.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, errb, func() (int, string, string) {
		defer cancel()
		err := <-exited
		var ee *exec.ExitError
		code := 0
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			w.t.Fatalf("apply: %v", err)
		}
		return code, out.String(), errb.String()
	}
}

// seed gives the world n files of the torture sizes.
func (w *world) seed(n int) {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range n {
		w.files[fmt.Sprintf("files/f%02d.txt", i)] = content(rng, tortureSizes[i%len(tortureSizes)])
	}
	w.write()
}

// TestCrashInterrupt sends SIGINT or SIGTERM while apply uploads: it must stop starting
// work, finish or abandon what runs within a few seconds, record it, release the lock
// and exit 1 saying so; the next apply then converges. A signal that came while a ref
// was on the wire must not leave an unrecorded temp file, since apply awaits the ref's
// answer (refGrace) even when abandoning.
func TestCrashInterrupt(t *testing.T) {
	tests := []struct {
		name    string
		signals []os.Signal
		// slowUploads holds every S3 POST this long, so that running uploads cannot
		// finish within main's grace.
		slowUploads time.Duration
		stderr      []string
		maxTime     time.Duration
	}{
		{
			name:    "one SIGINT lets running uploads finish",
			signals: []os.Signal{syscall.SIGINT},
			stderr: []string{
				"desksync: interrupted: finishing running actions (at most 5s); press Ctrl-C again to abandon them",
				"desksync: error: apply interrupted: the running actions finished and were recorded; no new ones were started",
				"not started: apply was interrupted",
				"desksync: hint: the state records every finished action, and an upload cut short as pending; run desksync apply again to clean up and finish",
			},
			maxTime: 4 * time.Second, // 10x a soft stop here, and under the 5s grace
		},
		{
			name:    "SIGTERM is the same soft stop",
			signals: []os.Signal{syscall.SIGTERM},
			stderr: []string{
				"desksync: interrupted: finishing running actions",
				"desksync: error: apply interrupted: the running actions finished and were recorded",
			},
			maxTime: 4 * time.Second,
		},
		{
			name:    "a second SIGINT abandons running uploads",
			signals: []os.Signal{syscall.SIGINT, syscall.SIGINT},
			// Held past the grace, so that the first SIGINT's soft stop cannot end
			// apply before the second arrives, however slow the machine.
			slowUploads: 6 * time.Second,
			stderr: []string{
				"desksync: interrupted again: abandoning running actions",
				"desksync: error: apply interrupted: the running actions were abandoned",
			},
			maxTime: 3 * time.Second,
		},
		{
			name:        "uploads that outlast the grace are abandoned",
			signals:     []os.Signal{syscall.SIGINT},
			slowUploads: 6 * time.Second,
			stderr: []string{
				"desksync: running actions did not finish within 5s: abandoning them",
				"desksync: error: apply interrupted: the running actions were abandoned",
				// Abandoned is not failed: the next apply finishes them.
				"changes not finished: abandoned when apply was stopped (the next apply finishes them):",
			},
			maxTime: 8 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.seed(12)
			w.srv.SetLatency(30 * time.Millisecond)
			if tt.slowUploads > 0 {
				w.srv.Inject(desktest.Upload, desktest.Fault{Latency: tt.slowUploads, Times: 100})
			}
			// Signal once the third request arrives: some uploads are then running
			// and most not yet started.
			armed := w.tap.arm(1, 3)
			cmd, stderrNow, wait := w.startApplyStderr("--parallelism=2")
			<-armed
			time.Sleep(10 * time.Millisecond)
			sent := time.Now()
			for i, sig := range tt.signals {
				if i > 0 {
					// The second signal once desksync has taken the first.
					waitStderr(t, stderrNow, "desksync: interrupted: ")
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, stderr := wait()
			took := time.Since(sent)
			if code != 1 || took > tt.maxTime {
				t.Errorf("apply exited %d %v after the signal, want 1 within %v", code, took.Round(time.Millisecond), tt.maxTime)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if !strings.Contains(stdout, "Apply incomplete:") {
				t.Errorf("stdout lacks the summary of what was done:\n%s", stdout)
			}
			if tt.slowUploads > 0 && (!strings.Contains(stdout, " not finished") || strings.Contains(stdout, " failed")) {
				t.Errorf("abandoned uploads are not counted as not finished:\n%s", stdout)
			}
			if _, err := os.Stat(w.lockPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("lock left behind after an interrupted apply (%v)", err)
			}
			// Every temp file on Desk is recorded as pending: none was abandoned
			// unrecorded, not even by a hard stop.
			st := w.readState()
			pending := map[int64]bool{}
			if st != nil {
				for _, p := range st.Pending {
					pending[p.ID] = true
				}
			}
			for _, f := range w.srv.Files() {
				if f.State == "temp" && !pending[f.ID] {
					t.Errorf("temp file %d (%s) on Desk is not recorded as pending", f.ID, f.Filename)
				}
			}
			if len(tt.signals) == 1 && tt.slowUploads == 0 && len(pending) != 0 {
				t.Errorf("a soft stop left pending uploads %v; running uploads should have finished", st.Pending)
			}
			t.Logf("stopped %v after the signal with %d pending", took.Round(time.Millisecond), len(pending))

			w.srv.ClearFaults()
			w.srv.SetLatency(0)
			w.mustApply()
			if orphans := w.checkConverged(); len(orphans) > 0 {
				t.Errorf("temp files left on Desk after an interrupt: %v", orphans)
			}
		})
	}
}

// waitStderr waits until desksync has written text to stderr, for 30s at most.
func waitStderr(t *testing.T, stderr *syncbuf.Buffer, text string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), text); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on stderr within 30s:\n%s", text, stderr.String())
		}
	}
}

// TestCrashConcurrentApply starts a second apply while one runs: it must fail at once
// naming the holder (or, with --lock-timeout, wait and then find nothing to do).
func TestCrashConcurrentApply(t *testing.T) {
	w := newWorld(t)
	w.seed(12)
	w.srv.SetLatency(40 * time.Millisecond)
	armed := w.tap.arm(1, 2)
	first, waitFirst := w.startApply("--parallelism=1")
	<-armed

	begin := time.Now()
	_, stderr, code := w.run("apply", "--auto-approve")
	took := time.Since(begin)
	info, err := state.NewFile(w.statePath()).ReadLock()
	if err != nil {
		t.Fatalf("the first apply's lock: %v", err)
	}
	if info.PID != first.Process.Pid {
		t.Errorf("lock names pid %d, the first apply is %d", info.PID, first.Process.Pid)
	}
	for _, want := range []string{
		"desksync: error: state is locked by " + info.Who + " (apply, pid " + fmt.Sprint(first.Process.Pid) + ", since ",
		`desksync: hint: wait for it to finish (--lock-timeout waits for you), or if that run is dead run "desksync force-unlock ` + info.ID + `"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second apply's stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != 1 || took > 10*time.Second {
		t.Errorf("second apply exited %d after %v, want 1 at once", code, took.Round(time.Millisecond))
	}

	// force-unlock refuses while the holder runs here (before the fix, a live run's lock
	// removed let a third apply run beside it), naming it and the way past.
	_, stderr, code = w.run("force-unlock", info.ID)
	for _, want := range []string{
		fmt.Sprintf("its holder %s (apply, pid %d, since ", info.Who, first.Process.Pid),
		"is still running on this host",
		`desksync: hint: wait for process ` + fmt.Sprint(first.Process.Pid) + ` to finish, or stop it; if that pid now belongs to another program, run "desksync force-unlock --force ` + info.ID + `"`,
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("force-unlock of a live run's lock exited %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
	if after, err := state.NewFile(w.statePath()).ReadLock(); err != nil || after.ID != info.ID {
		t.Errorf("refused force-unlock touched the lock: %v, %v", after, err)
	}

	// One that waits gets the lock when the first is done, and finds nothing to do.
	out, stderr, code := w.run("apply", "--auto-approve", "--lock-timeout=30s")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("apply --lock-timeout exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if code, out, stderr := waitFirst(); code != 0 {
		t.Fatalf("first apply exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if orphans := w.checkConverged(); len(orphans) > 0 {
		t.Errorf("temp files left on Desk: %v", orphans)
	}
}

// TestCrashAfterActivate: Desk activated an upload (or applied an update) but the
// process never recorded it. The next plan shows the leftover, and the next apply
// adopts the active file instead of uploading it again, and corrects an update.
func TestCrashAfterActivate(t *testing.T) {
	tests := []struct {
		name string
		// prepare arranges the crash for the apply that follows; proc holds the
		// running process once it has started.
		prepare func(w *world, proc *atomic.Pointer[os.Process])
		args    []string
		// update makes the crash hit an in-place update instead of an upload.
		update bool
	}{
		{
			name: "killed after Desk answered the PATCH",
			prepare: func(w *world, proc *atomic.Pointer[os.Process]) {
				var once sync.Once
				w.tap.setAfter(func(c *call) {
					if c.ep == "patch" {
						once.Do(func() { killAndReap(w.t, proc.Load()) })
					}
				})
			},
			args: []string{"--parallelism=1"},
		},
		{
			name: "the PATCH answer is lost and the temp file cannot be deleted",
			prepare: func(w *world, _ *atomic.Pointer[os.Process]) {
				w.srv.Inject(desktest.Patch, desktest.Fault{AfterCommit: true, Drop: true})
				w.srv.Inject(desktest.Delete, desktest.Fault{Status: http.StatusInternalServerError})
			},
			args: []string{"--parallelism=1", "--retries=0"},
		},
		{
			name:   "killed after Desk applied an update's PATCH",
			update: true,
			prepare: func(w *world, proc *atomic.Pointer[os.Process]) {
				var once sync.Once
				w.tap.setAfter(func(c *call) {
					if c.ep == "patch" {
						once.Do(func() { killAndReap(w.t, proc.Load()) })
					}
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.seed(3)
			if tt.update {
				w.mustApply()
				w.inline["files/f01.txt"] = true
				w.write()
			}
			w.tap.arm(1, 0)
			var proc atomic.Pointer[os.Process]
			tt.prepare(w, &proc)
			cmd, wait := w.startApply(tt.args...)
			proc.Store(cmd.Process)
			if code, out, errs := wait(); code == 0 {
				t.Fatalf("apply survived the crash\nstdout:\n%s\nstderr:\n%s", out, errs)
			}
			w.tap.settle(t)
			w.tap.setAfter(nil)
			w.unlockStale()

			st := w.readState()
			// The PATCH the crash hit: the one whose answer was dropped, else the only one
			// before the kill. The log is in order of completion, so after a dropped answer
			// another file's PATCH can come first.
			var patched int64
			for _, c := range w.srv.Requests() {
				if c.Endpoint == desktest.Patch && (patched == 0 || c.Dropped) {
					patched, _ = strconvID(c.Path)
					if c.Dropped {
						break
					}
				}
			}
			f := fileByID(w.srv, patched)
			if f.State != "active" {
				t.Fatalf("Desk file %d is %q after the PATCH, want active", patched, f.State)
			}
			if tt.update {
				if a := st.Attachments["files/f01.txt"]; a == nil || a.Disposition != "" {
					t.Fatalf("after a crash in an update the state should hold the disposition as unknown, has %+v", a)
				}
				out, _, _ := w.run("plan")
				if !strings.Contains(out, `disposition: "" -> "attachment-inline"`) {
					t.Errorf("plan does not show the unknown disposition being set:\n%s", out)
				}
			} else {
				if p := st.Pending["files/f00.txt"]; p == nil || p.ID != patched {
					t.Fatalf("state pending %v, want files/f00.txt pending as %d", st.Pending, patched)
				}
				out, _, _ := w.run("plan")
				if want := fmt.Sprintf("unfinished upload: temp file %d (\"f00.txt\", 1 B) of an earlier apply that failed or was interrupted before activating it; it will be checked and removed or adopted", patched); !strings.Contains(out, want) {
					t.Errorf("plan lacks %q:\n%s", want, out)
				}
			}

			out, errs, code := w.run("apply", "--auto-approve")
			if code != 0 {
				t.Fatalf("apply after the crash exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if !tt.update {
				if want := fmt.Sprintf("adopted the upload an earlier apply left pending (id %d)", patched); !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
				if a := w.readState().Attachments["files/f00.txt"]; a == nil || a.ID != patched {
					t.Errorf("files/f00.txt recorded as %+v, want the adopted file %d", a, patched)
				}
			}
			uploads := 0
			for _, c := range w.srv.Requests() {
				if c.Endpoint == desktest.Upload {
					uploads++
				}
			}
			if uploads != len(w.files) {
				t.Errorf("%d S3 POSTs for %d files: a file was uploaded twice (or not at all)", uploads, len(w.files))
			}
			if orphans := w.checkConverged(); len(orphans) > 0 {
				t.Errorf("temp files left on Desk: %v", orphans)
			}
		})
	}
}

// killAndReap kills cmd with SIGKILL and waits until it is gone, so that an answer held
// back by the tap can never reach it.
func killAndReap(t *testing.T, p *os.Process) {
	if p == nil {
		t.Error("kill: the process has not started")
		return
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill: %v", err)
		return
	}
	for p.Signal(syscall.Signal(0)) == nil {
		// Until Wait reaps it the process is a zombie, which signal 0 still finds.
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid)); err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func strconvID(path string) (int64, error) {
	var id int64
	_, err := fmt.Sscanf(path[strings.LastIndexByte(path, '/')+1:], "%d.json", &id)
	return id, err
}

func fileByID(srv *desktest.Server, id int64) desktest.FileRecord {
	for _, f := range srv.Files() {
		if f.ID == id {
			return f
		}
	}
	return desktest.FileRecord{}
}

// TestCrashStateKillPoints kills apply from inside each step of a state write (an append
// to the journal, a compaction), where a kill by the clock rarely lands: the state must
// load afterwards (a torn journal line is ignored, a compaction cut short leaves the old
// file or the new one) and the next apply must converge with nothing left over.
func TestCrashStateKillPoints(t *testing.T) {
	for _, point := range stateKillPoints {
		// A small apply appends many times but writes the whole state only once or twice.
		nths := []int{1}
		if isJournalStep(point) {
			nths = append(nths, 3)
		}
		for _, nth := range nths {
			t.Run(fmt.Sprintf("%s:%d", point, nth), func(t *testing.T) {
				w := newWorld(t)
				w.seed(8)
				w.mustApply()
				// A replace, an update, a delete and a create, so the run writes every kind of step.
				w.files["files/f00.txt"] = []byte("changed")
				w.inline["files/f01.txt"] = true
				delete(w.files, "files/f02.txt")
				w.files["files/new.txt"] = []byte("new")
				w.write()

				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				w.tap.arm(1, 0)
				cmd, stdout, stderr := w.command(ctx, "apply", "--auto-approve", "--max-delete=100%", "--parallelism=2")
				cmd.Env = append(cmd.Env, fmt.Sprintf("DESKSYNC_TEST_KILL_AT=%s:%d", point, nth))
				err := cmd.Run()
				if !killedBySignal(err) {
					if err != nil {
						t.Fatalf("apply exited with %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
					}
					t.Fatalf("apply finished without reaching %s %d times", point, nth)
				}
				killed := kill{run: 1, at: time.Now(), reaped: time.Now(), step: point, parallelism: 2, recorded: ids(w.readState())}
				w.tap.settle(t)
				w.tap.arm(2, 0)
				w.unlockStale()
				w.mustApply()
				w.accountOrphans(w.checkConverged(), []kill{killed})
				if _, err := os.Stat(w.statePath() + ".journal"); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a journal is left after a finished apply: %v", err)
				}
			})
		}
	}
}
