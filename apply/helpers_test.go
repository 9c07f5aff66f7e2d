package apply_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/testdesk"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

const testKey = "apply-test-key-7f3c"

// env is one test's world: an emulator behind a real HTTP server, the real desk
// client, a manifest folder and a state file.
type env struct {
	t      *testing.T
	srv    *desktest.Server
	ts     *httptest.Server
	client *desk.Client
	root   string
	store  *state.File
	st     *state.State
}

type envOptions struct {
	emulator desktest.Options
	// transport, if set, wraps the client's transport (to act at an exact moment of
	// the protocol, e.g. move the emulator's clock just before the S3 POST).
	transport func(http.RoundTripper) http.RoundTripper
	retries   int
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	o.emulator.APIKey = testKey
	if o.retries == 0 {
		o.retries = 2
	}
	d := testdesk.Start(t, testdesk.Options{Emulator: o.emulator, Transport: o.transport, Retries: o.retries})
	srv, ts, client := d.Emulator, d.Server, d.Client
	root := t.TempDir()
	stateDir := t.TempDir()
	return &env{
		t: t, srv: srv, ts: ts, client: client, root: root,
		store: state.NewFile(filepath.Join(stateDir, "desksync.state.json")),
		st:    state.New(ts.URL),
	}
}

// write creates or overwrites files under the root; an empty content removes the file.
func (e *env) write(files map[string]string) {
	e.t.Helper()
	for name, content := range files {
		p := filepath.Join(e.root, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				e.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

// manifest writes desksync.yaml with the given attachments section and loads it.
func (e *env) manifest(attachments string) *manifest.Manifest {
	e.t.Helper()
	path := filepath.Join(e.root, "desksync.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nattachments:\n"+attachments), 0o644); err != nil {
		e.t.Fatal(err)
	}
	m, err := manifest.Load(path, manifest.Options{})
	if err != nil {
		e.t.Fatalf("load manifest: %v", err)
	}
	return m
}

func (e *env) plan(m *manifest.Manifest) *plan.Plan {
	e.t.Helper()
	p, err := plan.Compute(context.Background(), m, e.st, plan.Options{DeleteLimit: mustLimit(e.t, "100%")})
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return p
}

func mustLimit(t *testing.T, s string) plan.DeleteLimit {
	t.Helper()
	l, err := plan.ParseDeleteLimit(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// run plans m against the current state and applies it.
func (e *env) run(m *manifest.Manifest, tweak func(*apply.Options)) (*apply.Result, error) {
	e.t.Helper()
	opts := apply.Options{
		Plan: e.plan(m), Manifest: m, State: e.st, Store: e.store, Desk: e.client,
		Now: func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) },
	}
	if tweak != nil {
		tweak(&opts)
	}
	return apply.Run(context.Background(), opts)
}

// mustRun is run that expects every change to succeed.
func (e *env) mustRun(m *manifest.Manifest) *apply.Result {
	e.t.Helper()
	res, err := e.run(m, nil)
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	if err := res.Err(); err != nil {
		e.t.Fatalf("apply: %v: %v", err, res.Failures)
	}
	return res
}

// converged checks what every successful apply must leave: planning again finds
// nothing to do; the saved state equals the one in memory; and Desk holds exactly one
// active file per address, with the local bytes, and no temp or other active file.
func (e *env) converged(m *manifest.Manifest) {
	e.t.Helper()
	if p := e.plan(m); p.HasChanges() {
		e.t.Errorf("planning again finds changes: %+v cleanups %+v", p.Changes, p.Cleanups)
	}
	e.stateSaved()
	if len(e.st.Pending) > 0 || len(e.st.Deposed) > 0 {
		e.t.Errorf("state keeps pending %v / deposed %v", e.st.Pending, e.st.Deposed)
	}
	want := map[int64]string{} // id -> address
	for _, en := range m.Entries {
		a := e.st.Attachments[en.Address]
		if a == nil {
			e.t.Errorf("%s: not in the state", en.Address)
			continue
		}
		want[a.ID] = en.Address
	}
	for _, f := range e.srv.Files() {
		addr, ok := want[f.ID]
		switch {
		case f.State == "deleted":
			continue
		case !ok:
			e.t.Errorf("Desk holds file %d (%s, %s) that the state does not track", f.ID, f.Filename, f.State)
			continue
		case f.State != "active":
			e.t.Errorf("%s: Desk file %d is %s", addr, f.ID, f.State)
		}
		delete(want, f.ID)
		local, err := os.ReadFile(filepath.Join(e.root, filepath.FromSlash(addr)))
		if err != nil {
			e.t.Fatal(err)
		}
		sum := md5.Sum(local)
		if f.MD5 != hex.EncodeToString(sum[:]) || f.Size != int64(len(local)) {
			e.t.Errorf("%s: Desk file %d has md5 %s size %d, local has %x size %d", addr, f.ID, f.MD5, f.Size, sum, len(local))
		}
		a := e.st.Attachments[addr]
		if f.Filename != a.Filename || f.Disposition != a.Disposition || f.MimeType != a.MimeType {
			e.t.Errorf("%s: Desk file %d is %q/%q/%q, state says %q/%q/%q", addr, f.ID,
				f.Filename, f.Disposition, f.MimeType, a.Filename, a.Disposition, a.MimeType)
		}
	}
	for id, addr := range want {
		e.t.Errorf("%s: state names Desk file %d, which Desk does not hold active", addr, id)
	}
}

// stateSaved checks that the state file holds exactly the state in memory.
func (e *env) stateSaved() {
	e.t.Helper()
	saved, err := e.store.Load(context.Background())
	if err != nil {
		b, _ := os.ReadFile(e.store.Path())
		e.t.Fatalf("load saved state: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(normState(saved), normState(e.st)) {
		e.t.Errorf("saved state differs from memory:\nsaved  %+v\nmemory %+v", saved, e.st)
	}
}

func normState(s *state.State) state.State {
	c := *s.Clone()
	if len(c.Pending) == 0 {
		c.Pending = nil
	}
	if len(c.Deposed) == 0 {
		c.Deposed = nil
	}
	if len(c.Attachments) == 0 {
		c.Attachments = nil
	}
	return c
}

// endpoints lists the emulator's request log as "Endpoint status" strings.
func (e *env) endpoints() []string {
	var out []string
	for _, r := range e.srv.Requests() {
		out = append(out, r.Endpoint.String()+" "+statusWord(r.Status))
	}
	return out
}

func (e *env) count(ep desktest.Endpoint) int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Endpoint == ep {
			n++
		}
	}
	return n
}

// statusWord is a logged status as text; 0 means the emulator dropped the connection.
func statusWord(n int) string {
	if n == 0 {
		return "dropped"
	}
	return strconv.Itoa(n)
}

func failures(res *apply.Result) []string {
	var out []string
	for _, f := range res.Failures {
		out = append(out, f.Action+" "+f.Err.Error())
	}
	return out
}

func skipped(res *apply.Result) []string {
	var out []string
	for _, f := range res.Skipped {
		out = append(out, f.Address+" "+f.Action+": "+f.Err.Error())
	}
	sort.Strings(out)
	return out
}

// recorder is a Progress that keeps every event and the most uploads in flight at once.
type recorder struct {
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	events      []string
	onStart     func(apply.Event)
	onFinish    func(apply.Event, error)
	begin       apply.Totals
	end         *apply.Result
}

func (r *recorder) Begin(t apply.Totals) { r.mu.Lock(); r.begin = t; r.mu.Unlock() }
func (r *recorder) Start(ev apply.Event) {
	r.mu.Lock()
	if ev.Size > 0 {
		r.inFlight++
		r.maxInFlight = max(r.maxInFlight, r.inFlight)
	}
	r.events = append(r.events, "start "+ev.Action+" "+ev.Address)
	f := r.onStart
	r.mu.Unlock()
	if f != nil {
		f(ev)
	}
}
func (r *recorder) Advance(string, int64) {}
func (r *recorder) Finish(ev apply.Event, err error) {
	r.mu.Lock()
	if ev.Size > 0 {
		r.inFlight--
	}
	s := "done "
	if err != nil {
		s = "error "
	}
	r.events = append(r.events, s+ev.Action+" "+ev.Address)
	f := r.onFinish
	r.mu.Unlock()
	if f != nil {
		f(ev, err)
	}
}
func (r *recorder) End(res *apply.Result) { r.mu.Lock(); r.end = res; r.mu.Unlock() }
