package command

// The flags and helpers several commands share: which Desk to talk to, the planning
// limits of plan and apply, the state store a location names, and the command lines
// hints suggest.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/internal/refresh"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/gitstate"
	"github.com/desksync/desksync/state/s3state"
)

// connFlags are the flags of every command that talks to Desk.
type connFlags struct {
	URL     string `name:"url" env:"DESK_URL" placeholder:"URL" help:"Desk site, e.g. https://yoursite.teamwork.com (${env})."`
	APIKey  string `name:"api-key" env:"DESK_API_KEY" placeholder:"KEY" help:"Desk API key, sent as a Bearer token; prefer the environment variable (${env})."`
	Sandbox bool   `help:"Use the embedded Desk emulator kept, with its own state file, in .desksync/sandbox/ beside the manifest: no account, no network."`
	Retries int    `default:"5" help:"Retries for network errors and 5xx answers (a 429 is waited out and does not count)."`
	// Timeout bounds a server that answers slowly or never (see SECURITY.md).
	Timeout time.Duration `default:"60s" help:"Longest wait for one Desk answer, and for an upload in which no bytes move."`
	Debug   bool          `help:"Trace every HTTP request to stderr (credentials and signatures redacted)."`
}

// maxParallelism bounds --parallelism. Each request in flight holds a connection and
// each apply action under way (up to eight per turn) an open file, so past 64 the usual
// limit of 1,024 open files comes within reach; and Desk's 120 requests a minute are
// used up long before.
const maxParallelism = 64

func checkParallelism(n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("--parallelism must be at least 1")
	case n > maxParallelism:
		return fmt.Errorf("--parallelism must be at most %d, not %d (Desk allows 120 requests a minute; more at once only meet its rate limit)", maxParallelism, n)
	}
	return nil
}

// openHashCache opens the hash cache of the manifest g names, which plan loads the
// manifest through; nil when the manifest's folder cannot be resolved (Load says why).
func (g *Globals) openHashCache() *hashcache.Cache {
	root, err := manifest.RootOf(g.Manifest)
	if err != nil {
		return nil
	}
	return hashcache.Open(root, g.Manifest)
}

// refreshState reads every file st tracks from Desk and returns the refreshed copy
// with opts carrying the drift, for plan and apply --refresh.
func refreshState(ctx context.Context, client *desk.Client, st *state.State, opts plan.Options, parallelism int) (*state.State, plan.Options, []state.Mutation, error) {
	opts.Refreshed = true
	if st == nil {
		return nil, opts, nil, nil
	}
	rep, err := refresh.Run(ctx, st, client, parallelism)
	if err != nil {
		return nil, opts, nil, err
	}
	opts.Drift = rep.Notes()
	return rep.State, opts, rep.Mutations, nil
}

// planFlags are the planning limits plan and apply share.
type planFlags struct {
	MaxDelete   string   `name:"max-delete" placeholder:"N|P%" help:"Deletes allowed: more is a warning in plan and refused by apply (default 30% once 10 or more are tracked; none when the manifest lists no attachments)."`
	MaxFileSize string   `name:"max-file-size" default:"5GiB" placeholder:"SIZE" help:"Refuse, at plan time and so before any upload, a file larger than this (e.g. 100MiB); default: ${default}."`
	Target      []string `name:"target" sep:"none" placeholder:"PATTERN" help:"Plan only addresses matching PATTERN (an address, a folder or a glob such as \"images/**\"); repeatable."`
	Exclude     []string `name:"exclude" sep:"none" placeholder:"PATTERN" help:"Leave out addresses matching PATTERN; repeatable."`
	Replace     []string `name:"replace" sep:"none" placeholder:"ADDRESS" help:"Replace the tracked file at ADDRESS whatever the hashes say: upload it again (a new Desk ID), then delete the old one; repeatable."`
}

// options turns the flags into plan.Options.
func (f *planFlags) options() (plan.Options, error) {
	limit, err := plan.DeleteLimitFlag(f.MaxDelete)
	if err != nil {
		return plan.Options{}, err
	}
	maxSize, err := plan.ParseSize(f.MaxFileSize)
	if err != nil {
		return plan.Options{}, hint.New("--max-file-size: "+err.Error(), `write a size such as "5GiB" or "500MB"`)
	}
	scope, err := plan.NewScope(f.Target, f.Exclude)
	if err != nil {
		return plan.Options{}, err
	}
	replace, err := plan.NewReplace(f.Replace)
	if err != nil {
		return plan.Options{}, err
	}
	return plan.Options{DeleteLimit: limit, MaxFileSize: maxSize, Scope: scope, Replace: replace}, nil
}

// defaultManifest is the -m default, left out of suggested commands.
const defaultManifest = "desksync.yaml"

// commandLine writes a desksync command for a hint, repeating the -m, --state and
// --sandbox this run used so that it can be pasted as it is.
func (g *Globals) commandLine(sandbox bool, args ...string) string {
	parts := []string{"desksync"}
	for _, a := range args {
		parts = append(parts, plan.QuoteArg(a))
	}
	if g.Manifest != defaultManifest && g.Manifest != "" {
		parts = append(parts, "-m", plan.QuoteArg(g.Manifest))
	}
	if g.State != "" {
		parts = append(parts, "--state", plan.QuoteArg(g.State))
	}
	if sandbox {
		parts = append(parts, "--sandbox")
	}
	return quote.Text(strings.Join(parts, " "))
}

// given reports whether the user set flag on the command line or through env.
func given(kctx *kong.Context, flag, env string) bool {
	if env != "" && os.Getenv(env) != "" {
		return true
	}
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == flag {
			return true
		}
	}
	return false
}

// givenFlags is given for the flags a saved plan records, each with its environment
// variable.
func givenFlags(kctx *kong.Context) plan.Given {
	return func(flag string) bool {
		env := map[string]string{"manifest": "DESKSYNC_MANIFEST", "state": "DESKSYNC_STATE"}[flag]
		return given(kctx, flag, env)
	}
}

// stateStore is a state.Store that can name its location and remove a stale lock: a
// state file, or an s3:// object.
type stateStore interface {
	state.Store
	Path() string
	ForceUnlock(id string, force bool) error
}

var (
	_ stateStore = (*state.File)(nil)
	_ stateStore = (*s3state.Store)(nil)
	_ stateStore = (*gitstate.Store)(nil)
)

// openStore returns the store for a state location: a git:REF or git:REMOTE:REF ref (git
// runs in the working directory, the checkout), an s3://BUCKET/KEY URL or a file path.
func openStore(location string) (stateStore, error) {
	if gitstate.IsLocation(location) {
		return gitstate.Open(location, gitstate.Options{})
	}
	if manifest.IsStateURL(location) {
		return s3state.Open(context.Background(), location, s3state.Options{})
	}
	return state.NewFile(location), nil
}
