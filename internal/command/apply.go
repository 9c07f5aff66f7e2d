package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
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
	var saved *plan.Plan
	if c.PlanFile != "" {
		var err error
		if saved, err = plan.Read(c.PlanFile); err != nil {
			return err
		}
		if err := c.useRecorded(g, kctx, saved); err != nil {
			return err
		}
	}
	opts, guards, err := c.limits(g, kctx, saved)
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
		if err := c.useRecordedState(g, kctx, e, saved); err != nil {
			return err
		}
	}
	if err := e.begin(ctx, t, &c.connFlags, "apply", c.LockTimeout); err != nil {
		return err
	}
	st := e.state
	if saved != nil {
		if err := c.checkSaved(ctx, g, e, saved); err != nil {
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
		if err := plan.Verify(saved, p); err != nil {
			return hint.Wrap(err, `the plan file was edited, or made from other files; make it again with "`+c.replan(g, saved, "")+`", review it, and apply that`)
		}
	}
	if saved != nil {
		err = c.checkDeletes(g, p, guards, saved)
	} else {
		err = c.approve(ctx, g, t, p, guards, recordedPath(e.store.Path()))
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
func (c *applyCmd) useRecorded(g *Globals, kctx *kong.Context, saved *plan.Plan) error {
	if saved.Made.Manifest != "" && !given(kctx, "manifest", "DESKSYNC_MANIFEST") {
		if err := c.checkRecordedPath("manifest", "DESKSYNC_MANIFEST", saved.Made.Manifest); err != nil {
			return err
		}
		g.Manifest = saved.Made.Manifest
	}
	if saved.Made.Sandbox {
		c.Sandbox = true
	}
	return nil
}

func (c *applyCmd) useRecordedState(g *Globals, kctx *kong.Context, e *env, saved *plan.Plan) error {
	recorded := saved.Made.State
	if recorded == "" || given(kctx, "state", "DESKSYNC_STATE") || recorded == recordedPath(e.store.Path()) {
		return nil
	}
	if err := c.checkRecordedPath("state", "DESKSYNC_STATE", recorded); err != nil {
		return err
	}
	store, err := openStore(recorded)
	if err != nil {
		return err
	}
	g.State, e.store = recorded, store
	return nil
}

// checkRecordedPath refuses a recorded path outside the working directory: the plan
// file may come from anywhere, and must not choose which state (or manifest) a
// pipeline reads and writes; naming the path again on the command line allows it.
func (c *applyCmd) checkRecordedPath(flag, env, recorded string) error {
	if _, ok := insideWorkingDir(recorded); ok {
		return nil
	}
	return hint.New(
		fmt.Sprintf("plan %s was made with the %s %s, outside the working directory", quote.Text(c.PlanFile), flag, quote.Text(recorded)),
		fmt.Sprintf("if that is the %s you mean, name it: --%s %s (or %s)", flag, flag, quote.Text(plan.QuoteArg(recorded)), env))
}

// limits returns the planning options and the delete guards to enforce. For a saved
// plan both come from the file, and this run's own flags can only add to them: a
// smaller --max-file-size, a second --max-delete that must also hold.
func (c *applyCmd) limits(g *Globals, kctx *kong.Context, saved *plan.Plan) (plan.Options, []plan.DeleteLimit, error) {
	own, err := c.options()
	if err != nil {
		return plan.Options{}, nil, err
	}
	if saved == nil {
		return own, []plan.DeleteLimit{own.DeleteLimit}, nil
	}
	recorded, err := deleteLimit(saved.Made.MaxDelete)
	if err != nil {
		return plan.Options{}, nil, err
	}
	opts := plan.Options{DeleteLimit: recorded, MaxFileSize: saved.Made.MaxFileSize, Scope: saved.Scope, Replace: saved.Replace}
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = plan.DefaultMaxFileSize
	}
	if given(kctx, "max-file-size", "") {
		opts.MaxFileSize = min(opts.MaxFileSize, own.MaxFileSize)
	}
	guards := []plan.DeleteLimit{recorded}
	if given(kctx, "max-delete", "") {
		guards = append(guards, own.DeleteLimit)
	}
	if (given(kctx, "target", "") || given(kctx, "exclude", "")) && own.Scope.String() != saved.Scope.String() {
		scope := saved.Scope.String()
		if scope == "" {
			scope = "no --target or --exclude"
		}
		return plan.Options{}, nil, hint.New(
			fmt.Sprintf("plan %s was made with %s; --target and --exclude cannot change a saved plan", quote.Text(c.PlanFile), quote.Text(scope)),
			fmt.Sprintf(`make the plan again with the patterns you want: %s`, g.commandLine(c.Sandbox, "plan", "--out", c.PlanFile)))
	}
	// A saved plan is what was reviewed: another --replace would apply something else,
	// so it is refused like another scope rather than planned anew.
	if given(kctx, "replace", "") && !slices.Equal(own.Replace, saved.Replace) {
		recorded := "no --replace"
		if len(saved.Replace) > 0 {
			var args []string
			for _, a := range saved.Replace {
				args = append(args, "--replace "+quote.Shell(a))
			}
			recorded = strings.Join(args, " ")
		}
		return plan.Options{}, nil, hint.New(
			fmt.Sprintf("plan %s was made with %s; --replace cannot change a saved plan", quote.Text(c.PlanFile), recorded),
			fmt.Sprintf(`make the plan again with the addresses you want replaced: %s`, g.commandLine(c.Sandbox, "plan", "--replace", "ADDRESS", "--out", c.PlanFile)))
	}
	return opts, guards, nil
}

// checkSaved refuses a saved plan made for another site, or one that is stale.
func (c *applyCmd) checkSaved(ctx context.Context, g *Globals, e *env, saved *plan.Plan) error {
	if site := saved.Made.Site; site != "" && site != e.site {
		return hint.New(
			fmt.Sprintf("plan %s was made for %s, and this run talks to %s", quote.Text(c.PlanFile), quote.Text(site), e.site),
			"point DESK_URL at the site the plan was made for, or make the plan again: "+c.replan(g, saved, ""))
	}
	if err := plan.CheckStale(ctx, saved, e.manifest, e.state); err != nil {
		var stale *plan.StaleError
		if errors.As(err, &stale) {
			return hint.Wrap(err, `run "`+c.replan(g, saved, "")+`" again`)
		}
		return err
	}
	return nil
}

// replan is the command that makes saved again with the same inputs and limits, or
// with maxDelete in place of its --max-delete when that is not empty.
func (c *applyCmd) replan(g *Globals, saved *plan.Plan, maxDelete string) string {
	args := []string{"plan"}
	for _, p := range saved.Scope.Target {
		args = append(args, "--target", p)
	}
	for _, p := range saved.Scope.Exclude {
		args = append(args, "--exclude", p)
	}
	for _, a := range saved.Replace {
		args = append(args, "--replace", a)
	}
	if maxDelete == "" {
		maxDelete = saved.Made.MaxDelete
	}
	if maxDelete != "" {
		args = append(args, "--max-delete", maxDelete)
	}
	if size := saved.Made.MaxFileSize; size != 0 && size != plan.DefaultMaxFileSize {
		args = append(args, "--max-file-size", strconv.FormatInt(size, 10))
	}
	if saved.Refreshed {
		args = append(args, "--refresh")
	}
	return g.commandLine(c.Sandbox, append(args, "--out", c.PlanFile)...)
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

// checkDeletes enforces the mass-delete guards, the first being a saved plan's own.
func (c *applyCmd) checkDeletes(g *Globals, p *plan.Plan, guards []plan.DeleteLimit, saved *plan.Plan) error {
	for i, guard := range guards {
		err := p.CheckDeletes(guard)
		var md *plan.MassDeleteError
		if i == 0 && saved != nil && errors.As(err, &md) {
			made := "with --max-delete " + md.Limit.String()
			if saved.Made.MaxDelete == "" {
				made = "without --max-delete, so the default limit applies"
			}
			return hint.Wrap(err, fmt.Sprintf(`the plan was made %s; if the deletes are intended, make it again with "%s"`,
				made, c.replan(g, saved, strconv.Itoa(md.Deletes))))
		}
		if err != nil {
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
	if err := c.checkDeletes(g, p, guards, nil); err != nil {
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
