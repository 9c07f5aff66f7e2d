package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/view"
	"github.com/desksync/desksync/plan"
)

type showCmd struct {
	PlanFile string `arg:"" name:"PLANFILE" help:"A plan saved by \"desksync plan --out\"."`
	Format   string `enum:"text,json,markdown" default:"text" help:"Output format: text, json or markdown (cut to fit one GitHub comment)."`
}

func (c *showCmd) Help() string {
	return `Renders a plan saved by "desksync plan --out" for the person who approves a deploy,
without Desk and without credentials. The file is read as strictly as apply reads it.

When the manifest the plan records (or -m) is there, show also says whether the plan is
stale: whether the state or any file changed since it was made, and whether the plan
made now from them would be the same. Without the work tree (an approver with only the
artifact) it says that it could not check. A state the plan records outside the
working directory is read only when --state or DESKSYNC_STATE names it.

Exit status: 0 the plan was shown (current, stale or not checked), 1 error.`
}

func (c *showCmd) Run(g *Globals, t *terminal, kctx *kong.Context, ctx context.Context) error {
	saved, err := plan.Read(c.PlanFile)
	if err != nil {
		return err
	}
	fresh := c.freshness(ctx, g, kctx, saved)
	return view.RenderPlan(t.stdout, saved, c.Format, view.PlanOptions{Color: g.color(t), State: saved.Made.State, Freshness: fresh})
}

// freshness compares saved with the work tree the way apply would before acting on
// it, without Desk: the stale checks, then the plan made again and verified against
// the file. What cannot be read is reported, not failed: show is for reading a plan.
func (c *showCmd) freshness(ctx context.Context, g *Globals, kctx *kong.Context, saved *plan.Plan) *view.Freshness {
	notChecked := func(reason string) *view.Freshness { return &view.Freshness{Reason: reason} }
	stale := func(err error) *view.Freshness {
		reason := err.Error()
		if se := (*plan.StaleError)(nil); errors.As(err, &se) {
			reason = se.Reason
		}
		return &view.Freshness{Checked: true, Stale: true, Reason: reason}
	}
	// The manifest, state and limits the plan records, taken as apply takes them.
	recorded := &plan.Saved{Plan: saved, File: c.PlanFile}
	m, err := recorded.ManifestDefault(givenFlags(kctx))
	if err != nil {
		return notChecked(fmt.Sprintf("the plan was made with the manifest %s, outside the working directory (name it with -m to check)", saved.Made.Manifest))
	}
	if m != "" {
		g.Manifest = m
	}
	if _, err := os.Stat(g.Manifest); errors.Is(err, fs.ErrNotExist) {
		return notChecked(fmt.Sprintf("no manifest %s here (run show in the checkout the plan is for)", g.Manifest))
	}
	e, err := openEnv(g, saved.Made.Sandbox, nil)
	if err != nil {
		return stale(fmt.Errorf("the manifest cannot be loaded: %w", err))
	}
	statePath, err := recorded.StateDefault(e.store.Path(), givenFlags(kctx))
	if err != nil {
		return notChecked(fmt.Sprintf("the plan was made with the state %s, which neither the manifest nor --state names (name it with --state to check)", saved.Made.State))
	}
	if statePath != "" {
		if err := checkStateFile(statePath); err != nil {
			return notChecked(errorReason(err))
		}
		store, err := openStore(statePath)
		if err != nil {
			return notChecked(fmt.Sprintf("the state %s cannot be opened: %s", statePath, errorReason(err)))
		}
		e.store = store
	}
	st, err := e.loadState(ctx)
	if err != nil {
		return notChecked(fmt.Sprintf("the state %s cannot be read: %s", plan.RecordedPath(e.store.Path()), errorReason(err)))
	}
	if err := plan.CheckStale(ctx, saved, e.manifest, st); err != nil {
		return stale(err)
	}
	if saved.Refreshed {
		return notChecked("the plan was made with --refresh, so only desksync apply, which reads Desk again, can compare it; the state and files are unchanged")
	}
	// show has none of the flags that tighten a saved plan's limits.
	opts, _, err := recorded.Limits(plan.Options{}, func(string) bool { return false })
	if err != nil {
		return stale(err)
	}
	now, err := plan.Compute(ctx, e.manifest, st, opts)
	if err != nil {
		return stale(fmt.Errorf("planning again from the work tree fails: %w", err))
	}
	if err := plan.Verify(saved, now); err != nil {
		return stale(err)
	}
	return &view.Freshness{Checked: true}
}

// errorReason is err as a clause, with its hint when it has one.
func errorReason(err error) string {
	msg := err.Error()
	if hs := hint.Of(err); len(hs) > 0 {
		msg += " (" + strings.Join(hs, "; ") + ")"
	}
	return msg
}
