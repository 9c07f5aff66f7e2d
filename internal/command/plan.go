package command

import (
	"context"
	"fmt"

	"github.com/alecthomas/kong"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/internal/refresh"
	"github.com/desksync/desksync/internal/view"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/desksync/desksync/state"
)

type planCmd struct {
	Out              string `placeholder:"FILE" help:"Save the plan to FILE, for \"desksync apply FILE\"; the file also records the manifest, state, site and limits it was made with."`
	Format           string `enum:"text,json,markdown" default:"text" help:"Output format: text, json or markdown (cut to fit one GitHub comment)."`
	DetailedExitcode bool   `name:"detailed-exitcode" help:"Exit 2 when there are changes (0: none, 1: error)."`
	Refresh          bool   `help:"First read every tracked file from Desk, so files deleted or changed there are planned again (needs credentials; one request per tracked file; the state file is not written)."`
	Diff             bool   `help:"Show a unified diff of the live Desk content against the local file for changed text attachments up to 1 MiB (needs credentials)."`
	Parallelism      int    `default:"4" help:"Desk reads at once for --refresh and --diff."`
	NoCache          bool   `name:"no-cache" help:"Read and hash every file, ignoring the hash cache in .desksync/ beside the manifest."`
	planFlags
	connFlags
}

func (c *planCmd) Help() string {
	return `Compares the manifest (every file hashed with BLAKE3) with the state file and prints
what apply would do. Works offline and needs no credentials, unless --refresh or --diff
asks it to read Desk: --refresh GETs every tracked file first and plans from what Desk
holds (a file deleted there is created again, a remote rename is renamed back, a remote
content change is replaced), without writing the state; --diff downloads the live content
of changed text attachments and shows a unified diff against the local file.

A tracked address that is gone while a new one has the same content (blake3, size,
mimeType, type) is a move: the Desk file and its ID are kept.

--target and --exclude take an address, a folder or a glob, spelt as paths are typed
("./images/", "images\" and "images" are the same); a pattern that matches no address
of the manifest or the state is an error. A move is planned when either of its addresses
is selected. --replace ADDRESS uploads a tracked file again (a new Desk ID) whatever the
hashes say.

Exit status: 0 success (with --detailed-exitcode: no changes), 1 error,
2 with --detailed-exitcode when there are changes.`
}

func (c *planCmd) Run(g *Globals, t *terminal, kctx *kong.Context, ctx context.Context) error {
	opts, err := c.options()
	if err != nil {
		return err
	}
	if !c.NoCache {
		opts.HashCache = g.openHashCache()
	}
	if opts.HashCache == nil {
		opts.HashCache = hashcache.Ephemeral() // every file read, each opened once
	}
	e, st, err := openEnvAndState(ctx, g, c.Sandbox, opts.HashCache)
	if err != nil {
		return err
	}
	defer e.close()
	p, site, err := c.compute(ctx, t, e, st, opts)
	if err != nil {
		return err
	}
	if w := crlfWarning(ctx, "git", e.manifest.Root, p); w != "" {
		p.Warnings = append(p.Warnings, w)
	}
	_ = opts.HashCache.Save() // only a shortcut: a read-only checkout plans as well without it
	if c.Out != "" {
		p.Made = plan.Made{
			Manifest:    plan.RecordedPath(e.manifest.Path),
			State:       plan.RecordedPath(e.store.Path()),
			Sandbox:     c.Sandbox,
			Site:        site,
			MaxDelete:   c.MaxDelete,
			MaxFileSize: opts.MaxFileSize,
		}
		if err := plan.Write(c.Out, p); err != nil {
			return err
		}
	}
	if err := view.RenderPlan(t.stdout, p, c.Format, view.PlanOptions{Color: g.color(t), State: plan.RecordedPath(e.store.Path())}); err != nil {
		return err
	}
	if c.Out != "" && c.Format == "text" {
		fmt.Fprintf(t.stdout, "\nSaved the plan to %s. To perform exactly these actions, run:\n  %s\n",
			quote.Text(c.Out), g.commandLine(c.Sandbox, "apply", c.Out))
	}
	if c.DetailedExitcode && p.HasChanges() {
		return exitCode(2)
	}
	return nil
}

func (c *planCmd) Validate() error { return checkParallelism(c.Parallelism) }

// compute plans offline, or, with --refresh or --diff, reads Desk around the plan: the
// refreshed state (in memory only) and its drift notes before, the content diffs after.
// It returns the site the plan is for, when known.
func (c *planCmd) compute(ctx context.Context, t *terminal, e *env, st *state.State, opts plan.Options) (*plan.Plan, string, error) {
	if !c.Refresh && !c.Diff {
		p, err := plan.Compute(ctx, e.manifest, st, opts)
		return p, offlineSite(e, st), err
	}
	if err := e.connect(&c.connFlags, t.stderr); err != nil {
		return nil, "", err
	}
	if err := checkSite(st, e.site, e.store.Path()); err != nil {
		return nil, "", err
	}
	var err error
	if c.Refresh {
		if st, opts, _, err = refreshState(ctx, e.client, st, opts, c.Parallelism); err != nil {
			return nil, "", err
		}
	}
	p, err := plan.Compute(ctx, e.manifest, st, opts)
	if err != nil || !c.Diff {
		return p, e.site, err
	}
	return p, e.site, refresh.Diffs(ctx, e.client, p, e.manifest, c.Parallelism)
}

// offlineSite is the site an offline plan is for, as far as it can tell without
// connecting: the sandbox, or the state's own. DESK_URL is not read: only the client
// knows how it normalises what users paste, and a wrong guess would refuse a good plan.
func offlineSite(e *env, st *state.State) string {
	switch {
	case e.sandbox != "":
		return sandboxSite
	case st != nil:
		return st.Site
	}
	return ""
}
