package main

import (
	"context"
	"fmt"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/refresh"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/view"
)

type planCmd struct {
	Out              string `placeholder:"FILE" help:"Save the plan to FILE, for \"desksync apply FILE\"."`
	Format           string `enum:"text,json,markdown" default:"text" help:"Output format: text, json or markdown."`
	DetailedExitcode bool   `name:"detailed-exitcode" help:"Exit 2 when there are changes (0: none, 1: error)."`
	Refresh          bool   `help:"First read every tracked file from Desk, so files deleted or changed there are planned again (needs credentials; the state file is not written)."`
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

Exit status: 0 success (with --detailed-exitcode: no changes), 1 error,
2 with --detailed-exitcode when there are changes.`
}

func (c *planCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	opts, err := c.options()
	if err != nil {
		return err
	}
	var cache manifest.HeadCache // an untyped nil when there is no cache
	if !c.NoCache {
		if opts.HashCache = g.openHashCache(); opts.HashCache != nil {
			cache = opts.HashCache
		}
	}
	ws, err := openCachedWorkspace(g, c.Sandbox, cache)
	if err != nil {
		return err
	}
	st, err := ws.loadState(ctx)
	if err != nil {
		return err
	}
	p, err := c.compute(ctx, t, ws, st, opts)
	if err != nil {
		return err
	}
	if opts.HashCache != nil {
		_ = opts.HashCache.Save() // only a shortcut: a read-only checkout plans as well without it
	}
	if c.Out != "" {
		if err := plan.Write(c.Out, p); err != nil {
			return err
		}
	}
	if err := view.RenderPlan(t.stdout, p, c.Format, view.PlanOptions{Color: g.color(t)}); err != nil {
		return err
	}
	if c.Out != "" && c.Format == "text" {
		fmt.Fprintf(t.stdout, "\nSaved the plan to %s. To perform exactly these actions, run:\n  desksync apply %s\n", c.Out, c.Out)
	}
	if c.DetailedExitcode && p.HasChanges() {
		return exitCode(2)
	}
	return nil
}

func (c *planCmd) Validate() error { return checkParallelism(c.Parallelism) }

// compute plans offline, or, with --refresh or --diff, reads Desk around the plan: the
// refreshed state (in memory only) and its drift notes before, the content diffs after.
func (c *planCmd) compute(ctx context.Context, t *terminal, ws *workspace, st *state.State, opts plan.Options) (*plan.Plan, error) {
	if !c.Refresh && !c.Diff {
		return plan.Compute(ctx, ws.manifest, st, opts)
	}
	conn, err := c.connect(ws, t.stderr)
	if err != nil {
		return nil, err
	}
	defer conn.close()
	if err := checkSite(st, conn.site, ws.store.Path()); err != nil {
		return nil, err
	}
	if c.Refresh && st != nil {
		rep, err := refresh.Run(ctx, st, conn.client, c.Parallelism)
		if err != nil {
			return nil, err
		}
		st, opts.Drift = rep.State, rep.Notes()
	}
	p, err := plan.Compute(ctx, ws.manifest, st, opts)
	if err != nil || !c.Diff {
		return p, err
	}
	return p, refresh.Diffs(ctx, conn.client, p, ws.manifest, c.Parallelism)
}

// planFlags are the planning limits plan and apply share.
type planFlags struct {
	MaxDelete   string `name:"max-delete" placeholder:"N|P%" help:"Deletes allowed: more is a warning in plan and refused by apply (default 30% once 10 or more are tracked; none when the manifest lists no attachments)."`
	MaxFileSize string `name:"max-file-size" default:"5GiB" placeholder:"SIZE" help:"Refuse, at plan time and so before any upload, a file larger than this (e.g. 100MiB); default: ${default}."`
}

// options turns the flags into plan.Options.
func (f *planFlags) options() (plan.Options, error) {
	limit, err := deleteLimit(f.MaxDelete)
	if err != nil {
		return plan.Options{}, err
	}
	maxSize, err := plan.ParseSize(f.MaxFileSize)
	if err != nil {
		return plan.Options{}, hinted{msg: "--max-file-size: " + err.Error(), hint: `write a size such as "5GiB" or "500MB"`}
	}
	return plan.Options{DeleteLimit: limit, MaxFileSize: maxSize}, nil
}

// deleteLimit reads --max-delete; empty means the default guard.
func deleteLimit(flag string) (plan.DeleteLimit, error) {
	if flag == "" {
		return plan.DefaultDeleteLimit(), nil
	}
	return plan.ParseDeleteLimit(flag)
}
