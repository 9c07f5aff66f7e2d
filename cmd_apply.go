package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/view"
)

type applyCmd struct {
	PlanFile    string        `arg:"" optional:"" name:"PLANFILE" help:"A plan saved by \"desksync plan --out\"; executed exactly, or refused when stale."`
	AutoApprove bool          `name:"auto-approve" help:"Skip the interactive \"yes\" (required when stdin is not a terminal)."`
	Parallelism int           `default:"4" help:"Desk requests (an upload counts as one) in flight at once."`
	Format      string        `enum:"text,json" default:"text" help:"Progress output: text, or json (one event per line)."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
	planFlags
	connFlags
}

func (c *applyCmd) Help() string {
	return `Without PLANFILE, plans, shows the plan and asks for "yes" (or --auto-approve).
Uploads run first, then in-place updates, then deletes, so an attachment never goes missing.
The state is saved after every finished action.

Exit status: 0 success, 1 error (including any failed entry; the others still finish).`
}

func (c *applyCmd) Validate() error { return checkParallelism(c.Parallelism) }

func (c *applyCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	opts, err := c.options()
	if err != nil {
		return err
	}
	ws, err := openWorkspace(g, c.Sandbox)
	if err != nil {
		return err
	}
	s, err := ws.begin(ctx, t, &c.connFlags, "apply", c.LockTimeout)
	if err != nil {
		return err
	}
	defer s.release()
	st := s.state
	p, err := c.plan(ctx, g, t, ws, st, opts)
	if err != nil {
		return err
	}
	if err := p.CheckDeletes(opts.DeleteLimit); err != nil {
		return err
	}
	if !p.HasChanges() {
		if c.Format == "text" {
			fmt.Fprintln(t.stdout, "No changes. Desk matches the manifest.")
		}
		return nil
	}
	if st == nil {
		st = state.New(s.conn.site)
	}
	// From here a first signal lets running actions finish (see main). One that came
	// before has cancelled ctx, and nothing has been changed yet.
	t.soft.Store(true)
	defer t.soft.Store(false)
	if ctx.Err() != nil {
		return errInterruptedEarly
	}
	res, err := apply.Run(ctx, apply.Options{
		Plan:        p,
		Manifest:    ws.manifest,
		State:       st,
		Store:       ws.store,
		Desk:        s.conn.client,
		Parallelism: c.Parallelism,
		Progress:    c.progress(t, p),
		Interrupt:   t.interrupt,
	})
	if res != nil && c.Format == "text" {
		fmt.Fprintln(t.stdout, view.ApplySummary(res))
	}
	select {
	case <-t.interrupt:
		return &interruptedError{abandoned: ctx.Err() != nil, failed: errors.Join(err, view.CompactFailures(res.Err()))}
	default:
	}
	if err != nil {
		return err
	}
	return res.Err()
}

// errInterruptedEarly is a signal that came before apply changed anything.
var errInterruptedEarly = hinted{
	msg:  "apply interrupted before it changed anything",
	hint: "nothing was changed on Desk or in the state; run desksync apply again when ready",
}

// interruptedError is an apply stopped by SIGINT or SIGTERM once it had started.
type interruptedError struct {
	// abandoned says running actions were cut short (a second signal, or softGrace
	// passed) rather than allowed to finish.
	abandoned bool
	// failed lists what failed or was not started, when anything was.
	failed error
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
	return "the state records every finished action, and an upload cut short as pending; run desksync apply again to clean up and finish"
}

// plan is the plan to execute: the saved one (refused when stale) or a fresh one that a
// person approves.
func (c *applyCmd) plan(ctx context.Context, g *Globals, t *terminal, ws *workspace, st *state.State, opts plan.Options) (*plan.Plan, error) {
	if c.PlanFile != "" {
		p, err := plan.Read(c.PlanFile)
		if err != nil {
			return nil, err
		}
		return p, plan.CheckStale(ctx, p, ws.manifest, st)
	}
	p, err := plan.Compute(ctx, ws.manifest, st, opts)
	if err != nil {
		return nil, err
	}
	if c.Format == "json" {
		return p, view.WritePlanEvent(t.stdout, p)
	}
	if err := view.RenderPlan(t.stdout, p, "text", view.PlanOptions{Color: g.color(t)}); err != nil {
		return nil, err
	}
	if !p.HasChanges() || c.AutoApprove {
		return p, nil
	}
	if !t.stdinTTY {
		return nil, hinted{
			msg:  "apply needs approval, and stdin is not a terminal",
			hint: "review the plan above, then run again with --auto-approve (or apply a saved plan: desksync plan --out FILE; desksync apply FILE)",
		}
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
		return nil, errInterruptedEarly
	}
	if strings.TrimSpace(answer) != "yes" {
		return nil, hinted{msg: "apply cancelled: the answer was not \"yes\"", hint: "nothing was changed"}
	}
	return p, nil
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
