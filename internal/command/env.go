package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

// sandboxSite is the site recorded in sandbox state: the emulator's port changes every run.
const sandboxSite = "sandbox"

// sandboxKey is the emulator's API key in --sandbox mode; it guards nothing real.
const sandboxKey = "sandbox"

// env is what a command works on: the manifest and the state store, and, as the command
// asks for them, the Desk client (connect) and the locked, loaded state (lock). Whatever
// it acquired, close gives back, so a command defers close once after openEnv.
type env struct {
	manifest *manifest.Manifest
	store    stateStore
	// sandbox is the emulator's folder when --sandbox is set.
	sandbox string

	// client and site are set by connect.
	client *desk.Client
	site   string
	// state is set by lock and begin; nil when no state file exists yet.
	state *state.State

	// closers give back what was acquired, run last first by close.
	closers []func()
}

// openEnv loads the manifest (through cache, nil for none) and finds the state: --state
// wins, then the sandbox's own state, then the manifest's `state:` (or its default).
func openEnv(g *Globals, sandbox bool, cache manifest.HeadCache) (*env, error) {
	m, err := g.loadManifestThrough(cache, nil)
	if err != nil {
		return nil, err
	}
	e := &env{manifest: m}
	if e.store, e.sandbox, err = findStore(g, sandbox, m.Root, m.StatePath); err != nil {
		return nil, err
	}
	return e, nil
}

// openEnvAndState is openEnv followed by loadState, with the state read while the
// manifest's files are looked at: for plan, which takes no lock, so nothing orders the
// two reads. Errors come in the same order as from the two calls in turn.
func openEnvAndState(ctx context.Context, g *Globals, sandbox bool, cache manifest.HeadCache) (*env, *state.State, error) {
	e := &env{}
	var st *state.State
	var stateErr error
	var read chan struct{}
	m, err := g.loadManifestThrough(cache, func(root, statePath string) {
		read = make(chan struct{})
		go func() {
			defer close(read)
			if e.store, e.sandbox, stateErr = findStore(g, sandbox, root, statePath); stateErr == nil {
				st, stateErr = e.loadState(ctx)
			}
		}()
	})
	if read != nil {
		<-read // no read outlives the command, even when the manifest is refused
	}
	if err != nil {
		return nil, nil, err
	}
	if stateErr != nil {
		return nil, nil, stateErr
	}
	e.manifest = m
	return e, st, nil
}

// findStore opens the state store at statePath, the manifest's choice (root is its
// folder), unless --state or --sandbox (whose folder it returns) says otherwise.
func findStore(g *Globals, sandbox bool, root, statePath string) (store stateStore, sandboxDir string, err error) {
	if sandbox {
		sandboxDir = filepath.Join(root, ".desksync", "sandbox")
		statePath = filepath.Join(sandboxDir, path.Base(filepath.ToSlash(statePath)))
	}
	if g.State != "" {
		statePath = g.State // as given, for messages; the manifest's StatePath is its absolute form
	}
	if err := checkStateFile(statePath); err != nil {
		return nil, "", err
	}
	if store, err = openStore(statePath); err != nil {
		return nil, "", err
	}
	return store, sandboxDir, nil
}

// close releases the lock and stops the sandbox emulator, whichever were taken.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// checkStateFile refuses a state path that exists but is not a regular file: opening a
// FIFO would block (through SIGTERM, as the open is not interruptible) and a device
// is never a state. Stat looks without opening.
func checkStateFile(p string) error {
	if manifest.IsStateURL(p) {
		return nil
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().IsRegular() {
		return nil // a missing state is a first run; other errors are the store's to report
	}
	what := "not a regular file"
	switch t := fi.Mode().Type(); {
	case t&fs.ModeDir != 0:
		what = "a folder"
	case t&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case t&fs.ModeDevice != 0:
		what = "a device, not a regular file"
	case t&fs.ModeSocket != 0:
		what = "a socket, not a regular file"
	}
	return hint.New(fmt.Sprintf("state %s is %s", p, what),
		"name a state file with --state, DESKSYNC_STATE or the manifest's state:")
}

// loadManifest loads the manifest under the --max-files cap.
func (g *Globals) loadManifest() (*manifest.Manifest, error) { return g.loadManifestThrough(nil, nil) }

// loadManifestThrough is loadManifest consulting cache (nil for none), calling
// stateKnown (when set) as manifest.Options.StateKnown.
func (g *Globals) loadManifestThrough(cache manifest.HeadCache, stateKnown func(root, statePath string)) (*manifest.Manifest, error) {
	if g.MaxFiles < 1 {
		return nil, hint.New(fmt.Sprintf("--max-files must be at least 1, not %d", g.MaxFiles), fmt.Sprintf("leave it out for the default (%d)", manifest.DefaultMaxEntries))
	}
	return manifest.Load(g.Manifest, manifest.Options{MaxEntries: g.MaxFiles, State: g.State, Cache: cache, Version: runningVersion(), StateKnown: stateKnown})
}

// warnKeyInArgs warns when the API key was given as --api-key on the command line,
// where any user of the machine can read it (ps, /proc/PID/cmdline), as can shell
// history and core dumps; the environment is private to the process and its parent.
func warnKeyInArgs(kctx *kong.Context, stderr io.Writer) {
	for _, e := range kctx.Path {
		if e.Flag != nil && e.Flag.Name == "api-key" {
			fmt.Fprintln(stderr, "desksync: warning: --api-key on the command line is visible to other users of this machine (ps) and may end up in shell history")
			fmt.Fprintln(stderr, "desksync: hint: set DESK_API_KEY in the environment instead")
			return
		}
	}
}

// loadState returns the stored state, or nil when there is none yet.
func (e *env) loadState(ctx context.Context) (*state.State, error) {
	st, err := e.store.Load(ctx)
	if errors.Is(err, state.ErrNotExist) {
		return nil, nil
	}
	return st, err
}

// begin connects to Desk, takes the state lock for operation (waiting up to lockTimeout)
// and loads the state, refusing one made for another site: where the commands that talk
// to Desk and then write the state (apply, refresh, import) start.
func (e *env) begin(ctx context.Context, t *terminal, c *connFlags, operation string, lockTimeout time.Duration) error {
	if err := e.connect(c, t.stderr); err != nil {
		return err
	}
	if err := e.lock(ctx, t, operation, lockTimeout); err != nil {
		return err
	}
	return checkSite(e.state, e.site, e.store.Path())
}

// lock takes the state lock for operation (waiting up to lockTimeout) and loads the
// state into e.state, nil when none exists yet.
func (e *env) lock(ctx context.Context, t *terminal, operation string, lockTimeout time.Duration) error {
	unlock, err := lock(ctx, t, e.store, operation, lockTimeout)
	if err != nil {
		return err
	}
	e.closers = append(e.closers, unlock)
	e.state, err = e.loadState(ctx)
	return err
}

// lock takes the state lock for operation, waiting up to timeout, and returns its release.
func lock(ctx context.Context, t *terminal, store state.Store, operation string, timeout time.Duration) (func(), error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id, err := store.Lock(lctx, state.LockInfo{Operation: operation})
	if err != nil && ctx.Err() != nil {
		return nil, hint.New(fmt.Sprintf("%s interrupted while waiting for the state lock: %v", operation, err), "nothing was changed")
	}
	if err != nil {
		return nil, err
	}
	return func() {
		if err := store.Unlock(id); err != nil {
			fmt.Fprintf(t.stderr, "desksync: warning: the state lock was not released: %s\n", quote.Lines(err.Error()))
			fmt.Fprintf(t.stderr, "desksync: hint: once no desksync runs, remove it with \"desksync force-unlock %s\"\n", quote.Shell(id))
		}
	}, nil
}

// connect builds the Desk client for the real site, or starts the sandbox emulator on
// loopback, and sets e.client and e.site.
func (e *env) connect(c *connFlags, stderr io.Writer) error {
	if c.Timeout <= 0 {
		return hint.New(fmt.Sprintf("--timeout must be positive, not %v", c.Timeout), "leave it out for the default (60s)")
	}
	cfg := desk.Config{URL: c.URL, APIKey: c.APIKey, Retries: c.Retries, Timeout: c.Timeout, Notices: stderr}
	if c.Retries == 0 {
		cfg.Retries = -1 // desk.Config reads 0 as "the default"; the flag's 0 means none
	}
	if c.Debug {
		cfg.Debug = stderr
	}
	var site string
	if e.sandbox != "" {
		srv, err := desktest.Open(e.sandbox, desktest.Options{APIKey: sandboxKey})
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		base, stop, err := desktest.Serve(srv)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		e.closers = append(e.closers, stop)
		cfg.URL, cfg.APIKey = base, sandboxKey
		site = sandboxSite
	} else {
		if cfg.URL == "" {
			return errNoURL
		}
		if _, err := normalizeSite(cfg.URL); err != nil {
			return err
		}
	}
	client, err := desk.New(cfg)
	if err != nil {
		return err
	}
	if e.sandbox == "" {
		// The client drops a pasted /desk or /desk/api/v2, so the state records one site
		// however DESK_URL was written.
		if site, err = normalizeSite(client.Site()); err != nil {
			return err
		}
	}
	e.client, e.site = client, site
	return nil
}

var errNoURL = hint.New("no Desk site: DESK_URL is not set", "set DESK_URL=https://yoursite.teamwork.com (or pass --url); to try desksync without an account, add --sandbox")

// normalizeSite is the form of a site URL recorded in state: scheme and host, lower case, no
// trailing slash, so that "https://X.teamwork.com/" and "https://x.teamwork.com" are one site.
func normalizeSite(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", hint.New(fmt.Sprintf("DESK_URL %q is not a site URL", withoutSecrets(raw)), "use the form https://yoursite.teamwork.com")
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.Path, "/"), nil
}

// withoutSecrets is a URL that did not parse, fit to print: cut before any query or
// fragment, and with any user:password@ removed, since either may hold a credential.
func withoutSecrets(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i] + "?REDACTED"
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	if at := strings.LastIndexByte(raw, '@'); at >= start {
		raw = raw[:start] + "REDACTED" + raw[at:]
	}
	return raw
}

// checkSite refuses a state that belongs to another Desk site.
func checkSite(st *state.State, site string, statePath string) error {
	if st == nil || st.Site == "" || st.Site == site {
		return nil
	}
	return hint.New(fmt.Sprintf("state %s belongs to %s, not %s", statePath, st.Site, site), "point DESK_URL at the site the state was made for, or use a separate state file (--state) for this site")
}
