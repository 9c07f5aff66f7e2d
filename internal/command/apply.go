package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/view"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/desksync/desksync/state"
)

type applyCmd struct {
	PlanFile    string        `arg:"" optional:"" name:"PLANFILE" help:"A plan saved by \"desksync plan --out\": applied only if the plan made now is identical, and with the manifest, state and limits it records."`
	AutoApprove bool          `name:"auto-approve" help:"Skip the interactive \"yes\" (required when stdin is not a terminal)."`
	Parallelism int           `default:"4" help:"Desk requests (an upload counts as one) in flight at once."`
	Format      string        `enum:"text,json" default:"text" help:"Progress output: text, or json (one event per line)."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
	Refresh     bool          `help:"First read every tracked file from Desk, so files deleted or changed there are uploaded again (for scheduled drift repair). Costs one request per tracked file against Desk's 120 a minute."`
	NoCache     bool          `name:"no-cache" help:"Read and hash every file to plan, ignoring the hash cache in .desksync/ beside the manifest (a saved plan never uses it)."`
	planFlags
	connFlags
}

func (c *applyCmd) Help() string {
	return `Without PLANFILE, plans, shows the plan and asks for "yes" (or --auto-approve).
Uploads run first, then in-place updates, then deletes, so an attachment never goes missing.
The state is saved after every finished action.

With PLANFILE, a plan saved by "desksync plan --out": the plan is made again from the
current manifest and state (after reading Desk again if it was made with --refresh), and
the file is refused unless every change and cleanup in it is identical, or when it is
stale. Its recorded manifest, state, --sandbox, --max-delete, --max-file-size, --target,
--exclude and --replace are the defaults; flags given here may tighten a recorded limit,
never loosen it, and --target, --exclude and --replace cannot change. See docs/plans.md.

Exit status: 0 success, 1 error (including any failed entry; the others still finish).`
}

func (c *applyCmd) Validate() error { return checkParallelism(c.Parallelism) }

func (c *applyCmd) Run(g *Globals, t *terminal, kctx *kong.Context, ctx context.Context) error {
	var saved *plan.Saved
	if c.PlanFile != "" {
		p, err := plan.Read(c.PlanFile)
		if err != nil {
			return err
		}
		saved = &plan.Saved{Plan: p, File: c.PlanFile, Command: func(args ...string) string { return g.commandLine(c.Sandbox, args...) }}
		if err := c.useRecorded(g, kctx, saved); err != nil {
			return err
		}
	}
	opts, guards, err := c.limits(kctx, saved)
	if err != nil {
		return err
	}
	// Apply's own plan decides "unchanged" as plan does, through the hash cache, so a
	// daily apply with nothing to do costs a stat per file. A saved plan is checked
	// against the bytes instead (CheckStale and the plan made again read every file);
	// uploads always hash what they send.
	if saved == nil && !c.NoCache {
		opts.HashCache = g.openHashCache()
	}
	if opts.HashCache == nil {
		opts.HashCache = hashcache.Ephemeral() // every file read, each opened once
	}
	e, err := openEnv(g, c.Sandbox, opts.HashCache)
	if err != nil {
		return err
	}
	defer e.close()
	if saved != nil {
		if err := useRecordedState(g, kctx, e, saved); err != nil {
			return err
		}
	}
	if err := e.begin(ctx, t, &c.connFlags, "apply", c.LockTimeout); err != nil {
		return err
	}
	st := e.state
	if saved != nil {
		if err := saved.CheckSite(e.site); err != nil {
			return err
		}
		if err := saved.CheckFresh(ctx, e.manifest, e.state); err != nil {
			return err
		}
	}
	if c.Refresh || saved != nil && saved.Refreshed {
		var drift []state.Mutation
		if st, opts, drift, err = refreshState(ctx, e.client, st, opts, c.Parallelism); err != nil {
			return err
		}
		// The journal apply appends is replayed onto the file, so what Desk showed must be
		// in the file first: a step planned from the refreshed state may not apply to the
		// old one (a move onto an address Desk no longer has).
		if len(drift) > 0 {
			if err := e.store.Save(ctx, st); err != nil {
				return err
			}
		}
	}
	p, err := plan.Compute(ctx, e.manifest, st, opts)
	if err != nil {
		return err
	}
	_ = opts.HashCache.Save() // only a shortcut, as in plan
	if saved != nil {
		if err := saved.Matches(p); err != nil {
			return err
		}
		err = saved.CheckGuards(p, guards)
	} else {
		err = c.approve(ctx, g, t, p, guards, plan.RecordedPath(e.store.Path()))
	}
	if err != nil {
		return err
	}
	if !p.HasChanges() {
		if c.Format == "text" && saved != nil {
			fmt.Fprintln(t.stdout, view.NoChanges(p))
		}
		return nil
	}
	if st == nil {
		st = state.New(e.site)
	}
	// From here a first signal lets running actions finish (see main). One that came
	// before has cancelled ctx, and nothing has been changed yet.
	t.soft.Store(true)
	defer t.soft.Store(false)
	if ctx.Err() != nil {
		return interruptedEarly(c.again(g))
	}
	res, err := apply.Run(ctx, apply.Options{
		Plan:        p,
		Manifest:    e.manifest,
		State:       st,
		Store:       e.store,
		Desk:        e.client,
		Parallelism: c.Parallelism,
		Progress:    c.progress(t, p),
		Interrupt:   t.interrupt,
	})
	if res != nil && c.Format == "text" {
		fmt.Fprintln(t.stdout, view.ApplySummary(res))
	}
	select {
	case <-t.interrupt:
		return &interruptedError{abandoned: ctx.Err() != nil, failed: errors.Join(err, view.CompactFailures(res.Err())),
			// A saved plan is stale once anything ran; a fresh apply finishes the job.
			again: g.commandLine(c.Sandbox, "apply")}
	default:
	}
	if err != nil {
		return err
	}
	return res.Err()
}

// useRecorded takes the manifest and --sandbox a saved plan was made with as this
// run's defaults; useRecordedState does the same for the state once the manifest
// (which names the default state) is loaded.
func (c *applyCmd) useRecorded(g *Globals, kctx *kong.Context, saved *plan.Saved) error {
	m, err := saved.ManifestDefault(givenFlags(kctx))
	if err != nil {
		return err
	}
	if m != "" {
		g.Manifest = m
	}
	c.Sandbox = saved.Sandbox(c.Sandbox)
	return nil
}

func useRecordedState(g *Globals, kctx *kong.Context, e *env, saved *plan.Saved) error {
	recorded, err := saved.StateDefault(e.store.Path(), givenFlags(kctx))
	if err != nil || recorded == "" {
		return err
	}
	store, err := openStore(recorded)
	if err != nil {
		return err
	}
	g.State, e.store = recorded, store
	return nil
}

// limits returns the planning options and the delete guards to enforce: this run's
// own, or, for a saved plan, those it records as this run's flags may tighten them.
func (c *applyCmd) limits(kctx *kong.Context, saved *plan.Saved) (plan.Options, []plan.DeleteLimit, error) {
	own, err := c.options()
	if err != nil {
		return plan.Options{}, nil, err
	}
	if saved == nil {
		return own, []plan.DeleteLimit{own.DeleteLimit}, nil
	}
	return saved.Limits(own, givenFlags(kctx))
}

// interruptedEarly is a signal that came before apply changed anything; again is the
// command to run.
func interruptedEarly(again string) error {
	return hint.New("apply interrupted before it changed anything", "nothing was changed on Desk or in the state; run "+again+" again when ready")
}

// interruptedError is an apply stopped by SIGINT or SIGTERM once it had started.
type interruptedError struct {
	// abandoned says running actions were cut short (a second signal, or softGrace
	// passed) rather than allowed to finish.
	abandoned bool
	// failed lists what failed or was not started, when anything was.
	failed error
	// again is the command that finishes the job.
	again string
}

func (e *interruptedError) Error() string {
	msg := "apply interrupted: the running actions finished and were recorded; no new ones were started"
	if e.abandoned {
		msg = "apply interrupted: the running actions were abandoned"
	}
	if e.failed != nil {
		msg += "\n" + e.failed.Error()
	}
	return msg
}

// Hint says that nothing is lost and how to finish.
func (e *interruptedError) Hint() string {
	return "the state records every finished action, and an upload cut short as pending; run " + e.again + " again to clean up and finish"
}

// again is this apply's command line, for a hint after it changed nothing.
func (c *applyCmd) again(g *Globals) string {
	if c.PlanFile != "" {
		return g.commandLine(c.Sandbox, "apply", c.PlanFile)
	}
	return g.commandLine(c.Sandbox, "apply")
}

// checkDeletes enforces the mass-delete guards of a freshly made plan.
func checkDeletes(p *plan.Plan, guards []plan.DeleteLimit) error {
	for _, guard := range guards {
		if err := p.CheckDeletes(guard); err != nil {
			return err
		}
	}
	return nil
}

// approve shows a freshly made plan, refuses it when it breaks a guard, and asks for
// "yes" unless --auto-approve (or there is nothing to do). stateAt is where the state
// was read from, for the plan's header.
func (c *applyCmd) approve(ctx context.Context, g *Globals, t *terminal, p *plan.Plan, guards []plan.DeleteLimit, stateAt string) error {
	if c.Format == "json" {
		doc := view.PlanDocument(p)
		doc.State = stateAt
		if err := view.WritePlanEvent(t.stdout, doc); err != nil {
			return err
		}
	} else if err := view.RenderPlan(t.stdout, p, "text", view.PlanOptions{Color: g.color(t), State: stateAt}); err != nil {
		return err
	}
	if err := checkDeletes(p, guards); err != nil {
		return err
	}
	if !p.HasChanges() || c.AutoApprove {
		return nil
	}
	// A prompt on stdout would break the NDJSON stream, so JSON output never asks.
	if !t.stdinTTY || c.Format == "json" {
		return hint.New("apply needs approval, and stdin is not a terminal", "review the plan above, then run again with --auto-approve (or apply a saved plan: "+
			g.commandLine(c.Sandbox, "plan", "--out", "FILE")+"; "+g.commandLine(c.Sandbox, "apply", "FILE")+")")
	}
	fmt.Fprint(t.stdout, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	// Read in the background: a blocked read of stdin must not keep Ctrl-C from
	// ending desksync.
	answers := make(chan string, 1)
	go func() {
		answer, _ := bufio.NewReader(t.stdin).ReadString('\n')
		answers <- answer
	}()
	var answer string
	select {
	case answer = <-answers:
	case <-ctx.Done():
		fmt.Fprintln(t.stdout)
		return interruptedEarly(c.again(g))
	}
	if strings.TrimSpace(answer) != "yes" {
		return hint.New("apply cancelled: the answer was not \"yes\"", "nothing was changed")
	}
	return nil
}

func (c *applyCmd) progress(t *terminal, p *plan.Plan) apply.Progress {
	switch {
	case c.Format == "json":
		return view.NewNDJSON(t.stdout, time.Now)
	case t.stdoutTTY:
		bars := view.NewBars(t.stdout, len(p.Changes)+len(p.Cleanups))
		t.aboveBars(bars)
		return bars
	default:
		return view.NewLines(t.stdout)
	}
}
