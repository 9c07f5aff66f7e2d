package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
	"golang.org/x/sync/errgroup"
)

// Run executes opts.Plan in four phases, each finishing before the next starts:
// cleanups, uploads, in-place updates and moves, deletes (the old halves of replaces
// last). Every step is recorded in the state before the action's next Desk request.
//
// The Result is never nil (except for invalid Options) and says what was done, what
// failed and what was not started. Run returns an error only when the run as a whole
// was cut short: the state could not be saved (*SaveError), or ctx was cancelled.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := newRunner(opts)
	go r.write(ctx)

	r.res.Total = len(opts.Plan.Changes) + len(opts.Plan.Cleanups)
	totals := Totals{Actions: r.res.Total}
	for _, ch := range opts.Plan.Changes {
		if uploads(ch) {
			totals.Bytes += ch.After.Size
		}
		if ch.Action == plan.Replace {
			totals.Actions++ // its old half is deleted in the last phase
		}
	}
	r.prog.Begin(totals)

	// Each phase's tasks are made once the previous phase has finished: no action runs
	// then, so they can read the state without asking its writer.
	r.runPhase(ctx, r.cleanupTasks())
	r.runPhase(ctx, r.changeTasks(plan.Create, plan.Replace))
	r.runPhase(ctx, r.changeTasks(plan.Update, plan.Move))
	r.runPhase(ctx, append(r.changeTasks(plan.Delete), r.deposedTasks()...))

	close(r.commits)
	<-r.written
	// A panic in the writer may have left the state half changed: what it appended
	// before stays in the journal, and the state is not compacted from memory.
	if r.wrote && (r.panicked == nil || !r.panicked.inWriter) {
		if err := opts.Store.Compact(context.WithoutCancel(ctx), opts.State); err != nil && r.saveErr == nil {
			r.saveErr = &SaveError{Err: err}
		}
	}

	if r.panicked != nil {
		// Panicking again here, in the caller's goroutine, lets its deferred cleanup
		// (the state lock) run; a panic left in an action's goroutine would end the
		// process at once. The renderer is not ended: it may be what panicked.
		panic(r.panicked)
	}

	byAddress := func(a, b Failure) int { return cmp.Compare(a.Address, b.Address) }
	slices.SortStableFunc(r.res.Failures, byAddress)
	slices.SortStableFunc(r.res.Skipped, byAddress)
	slices.SortStableFunc(r.res.Abandoned, byAddress)
	r.prog.End(r.res)

	if r.saveErr != nil {
		return r.res, r.saveErr
	}
	if err := ctx.Err(); err != nil {
		return r.res, fmt.Errorf("apply stopped before it finished: %w", err)
	}
	return r.res, nil
}

func (o *Options) check() error {
	var missing []string
	if o.Plan == nil {
		missing = append(missing, "Plan")
	}
	if o.State == nil {
		missing = append(missing, "State")
	}
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if o.Desk == nil {
		missing = append(missing, "Desk")
	}
	if len(missing) > 0 {
		return fmt.Errorf("apply: options lack %s", strings.Join(missing, ", "))
	}
	for _, ch := range o.Plan.Changes {
		if ch.Action != plan.Delete && ch.After == nil || ch.Action == plan.Move && ch.PreviousAddress == "" {
			return fmt.Errorf("apply: plan change %s (%s) is incomplete", quote.Text(ch.Address), ch.Action)
		}
	}
	return o.checkSerialRoom()
}

// stepsPerAction bounds the state steps one action records (a replace: pending, depose,
// activate, undepose), with room to spare: the bound only has to be above the truth, as
// no real state comes anywhere near state.MaxSerial.
const stepsPerAction = 8

// checkSerialRoom refuses, before the first Desk request, a run whose steps could carry
// the state's serial past state.MaxSerial: the save of a step that does not fit fails
// after its Desk file is made, and every rerun would upload the file again.
func (o *Options) checkSerialRoom() error {
	actions := int64(len(o.Plan.Changes) + len(o.Plan.Cleanups) + len(o.State.Pending) + len(o.State.Deposed) + 1)
	steps := stepsPerAction * actions
	if o.State.Serial <= state.MaxSerial-steps {
		return nil
	}
	return hint.Wrap(fmt.Errorf("state serial %d is too close to %d (2^53), the largest serial desksync reads: this run could record up to %d steps and pass it; nothing was changed on Desk",
		o.State.Serial, int64(state.MaxSerial), steps),
		"no desksync run writes a serial this large (each run adds a few): restore the state from version control or from its .backup")
}

func uploads(ch plan.Change) bool { return ch.Action == plan.Create || ch.Action == plan.Replace }

// runner is one Run's working set.
type runner struct {
	opts    Options
	now     func() time.Time
	prog    Progress
	entries map[string]manifest.Entry
	// slots bounds the Desk requests in flight; actions bounds the actions under way.
	// An action waiting for the state to record its step holds no slot, so with more
	// actions than slots another action can use it meanwhile.
	slots   chan struct{}
	actions int

	// commits is the queue of the state's one writer (see write), written is closed
	// when it has finished, and wrote says it recorded anything.
	commits chan commit
	written chan struct{}
	wrote   bool

	// mu guards the fields below.
	mu      sync.Mutex
	res     *Result
	saveErr *SaveError
	// adopted is the addresses whose pending upload phase 1 adopted.
	adopted map[string]bool
	// panicked is the first panic recovered in the run's goroutines.
	panicked *Panic
}

// Panic is a panic recovered in one of Run's goroutines, which Run panics with again
// from its caller's goroutine once every action has stopped and the state is saved.
// Its message keeps the original panic's stack.
type Panic struct {
	// Where says what was running: "an action of ADDRESS" or "the state's writer".
	Where string
	Value any
	Stack []byte
	// inWriter says the state's writer panicked, possibly halfway through a change.
	inWriter bool
}

func (p *Panic) Error() string {
	return fmt.Sprintf("apply: panic in %s: %v\n\n%s", p.Where, p.Value, p.Stack)
}

// recovered keeps the first panic; later ones are most likely its consequences.
func (r *runner) recovered(p *Panic) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panicked == nil {
		r.panicked = p
	}
}

func newRunner(opts Options) *runner {
	r := &runner{
		opts:    opts,
		now:     opts.Now,
		prog:    opts.Progress,
		entries: map[string]manifest.Entry{},
		commits: make(chan commit),
		written: make(chan struct{}),
		adopted: map[string]bool{},
		res:     &Result{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.prog == nil {
		r.prog = noProgress{}
	}
	par := cmp.Or(max(opts.Parallelism, 0), DefaultParallelism)
	r.slots = make(chan struct{}, par)
	// More actions than slots keep the slots busy while the state is written, and the
	// more steps wait, the more share an append; with one slot, one action at a time,
	// the sequential baseline --parallelism 1 promises.
	r.actions = 4 * par
	if par == 1 {
		r.actions = 1
	}
	if opts.Manifest != nil {
		for _, e := range opts.Manifest.Entries {
			r.entries[e.Address] = e
		}
	}
	return r
}

// task is one action of a phase.
type task struct {
	// action is the planned change the task belongs to, for Failure.Action.
	action string
	event  Event
	run    func(ctx context.Context, d Desk, ev *Event) error
}

// changeTasks are the tasks of the plan's changes with the given actions; a change
// that cannot start fails at once (see blocked).
func (r *runner) changeTasks(actions ...plan.Action) []task {
	var tasks []task
	for _, ch := range r.opts.Plan.Changes {
		if !slices.Contains(actions, ch.Action) || r.adopted[ch.Address] {
			continue
		}
		if err := r.blocked(ch); err != nil {
			r.fail(ch.Address, ch.Action.String(), &ActionError{Address: ch.Address, Step: "start", Err: err})
			continue
		}
		switch ch.Action {
		case plan.Create, plan.Replace:
			tasks = append(tasks, r.uploadTask(ch))
		case plan.Update, plan.Move:
			tasks = append(tasks, r.updateTask(ch))
		case plan.Delete:
			tasks = append(tasks, r.deleteTask(ch))
		}
	}
	return tasks
}

// blocked says why ch cannot start: an earlier upload of an address it touches is
// still recorded as pending (the change would overwrite or drop that record and lose
// track of its Desk file), the attachment it acts on is not in the state, or a move
// would overwrite another.
func (r *runner) blocked(ch plan.Change) error {
	for _, addr := range []string{ch.Address, ch.PreviousAddress} {
		if p := r.opts.State.Pending[addr]; addr != "" && p != nil {
			return fmt.Errorf("not started: the earlier pending upload %d of %s is still recorded and could not be cleared", p.ID, quote.Text(addr))
		}
	}
	from := cmp.Or(ch.PreviousAddress, ch.Address)
	if !uploads(ch) && r.opts.State.Attachments[from] == nil {
		return fmt.Errorf("not started: the state has no attachment for %s", quote.Text(from))
	}
	if a := r.opts.State.Attachments[ch.Address]; ch.Action == plan.Move && a != nil {
		return fmt.Errorf("not started: %s already has Desk file %d in the state", quote.Text(ch.Address), a.ID)
	}
	return nil
}

// runPhase runs tasks and returns once all have finished and their steps are recorded.
func (r *runner) runPhase(ctx context.Context, tasks []task) {
	var g errgroup.Group
	g.SetLimit(r.actions)
	for _, t := range tasks {
		g.Go(func() error {
			defer func() {
				if v := recover(); v != nil {
					r.recovered(&Panic{Where: "an action of " + t.event.Address, Value: v, Stack: debug.Stack()})
				}
			}()
			r.runTask(ctx, t)
			return nil
		})
	}
	_ = g.Wait() // tasks report through r.res
}

func (r *runner) runTask(ctx context.Context, t task) {
	if cause := r.stopped(ctx); cause != nil {
		r.skip(t, cause)
		return
	}
	ev := t.event
	g := &gate{r: r, event: t.event}
	err := t.run(ctx, g, &ev)
	if err != nil && g.refused && !g.started {
		r.skip(t, ErrRefused)
		return
	}
	g.start()
	r.prog.Finish(ev, err)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Cut short by the hard stop, not refused by Desk: the next apply finishes it.
		r.mu.Lock()
		r.res.Abandoned = append(r.res.Abandoned, Failure{Address: ev.Address, Action: t.action, Err: err})
		r.mu.Unlock()
	case err != nil:
		r.fail(ev.Address, t.action, err)
	}
}

// stopped returns why no new action may start, or nil.
func (r *runner) stopped(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("not started: %w", ctx.Err())
	case r.res.Refused != nil:
		return ErrRefused
	case r.saveErr != nil:
		return ErrStateNotSaved
	case r.panicked != nil:
		return errors.New("not started: another action panicked")
	}
	select {
	case <-r.opts.Interrupt:
		return ErrInterrupted
	default:
		return nil
	}
}

func (r *runner) skip(t task, cause error) {
	r.mu.Lock()
	r.res.Skipped = append(r.res.Skipped, Failure{Address: t.event.Address, Action: t.action, Err: cause})
	r.mu.Unlock()
}

func (r *runner) fail(address, action string, err error) {
	r.mu.Lock()
	r.res.Failures = append(r.res.Failures, Failure{Address: address, Action: action, Err: err})
	r.mu.Unlock()
}

// count adds one to a counter of r.res.
func (r *runner) count(n *int) {
	r.mu.Lock()
	*n++
	r.mu.Unlock()
}

// commit is one action's step for the state's writer.
type commit struct {
	address string
	muts    []state.Mutation
	done    chan error
}

// record has the state's writer apply muts and returns once they are durable, so that
// the caller's next Desk request never runs ahead of the state file.
func (r *runner) record(address string, muts ...state.Mutation) error {
	c := commit{address: address, muts: muts, done: make(chan error, 1)}
	r.commits <- c
	return <-c.done
}

// write is the state's one writer: it takes every commit queued, applies them, appends
// them with one Store.Append and acknowledges them all. Commits arriving while an
// append is written form the next batch, so the busier Desk keeps the actions, the
// more steps share an append, with no timer. Appends ignore cancellation: what happened
// on Desk must be recorded even during a hard stop. After a failed append nothing more
// is appended (the store may have lost its place); every later commit is refused.
func (r *runner) write(ctx context.Context) {
	defer close(r.written)
	var failed error
	for c := range r.commits {
		failed = r.writeBatch(ctx, c, failed)
	}
}

// writeBatch takes c and every commit queued after it, applies them, appends them
// unless an earlier append failed, acknowledges them all, and returns the append's
// error (or failed). A panic while it does so is recovered as a failure of the batch.
func (r *runner) writeBatch(ctx context.Context, c commit, failed error) (result error) {
	batch := []commit{c}
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		r.recovered(&Panic{Where: "the state's writer", Value: v, Stack: debug.Stack(), inWriter: true})
		result = fmt.Errorf("panic while recording in the state: %v", v)
		for _, c := range batch {
			select { // done holds one answer: those already given stay
			case c.done <- result:
			default:
			}
		}
	}()
queued:
	for {
		select {
		case c, ok := <-r.commits:
			if !ok {
				break queued
			}
			batch = append(batch, c)
		default:
			break queued
		}
	}
	var muts []state.Mutation
	refused := make([]error, len(batch))
	for i, c := range batch {
		for j, m := range c.muts {
			if err := r.opts.State.Apply(m); err != nil {
				refused[i] = fmt.Errorf("record in state: %w", err)
				c.muts = c.muts[:j] // what was applied is recorded
				break
			}
		}
		muts = append(muts, c.muts...)
	}
	if failed == nil && len(muts) > 0 {
		failed = r.opts.Store.Append(context.WithoutCancel(ctx), r.opts.State, muts)
	}
	r.wrote = r.wrote || len(muts) > 0
	for i, c := range batch {
		err := refused[i]
		if failed != nil {
			se := &SaveError{Address: c.address, Err: failed}
			r.mu.Lock()
			if r.saveErr == nil {
				r.saveErr = se
			}
			r.mu.Unlock()
			err = se
		}
		c.done <- err
	}
	return failed
}

// gate is the Desk one action calls. It holds one of the run's slots for the length of
// each request, reports the action's Start once Desk has answered its first request,
// and stops the run at Desk's first refusal of the API key (desk.IsAuth): no request,
// S3 uploads included, goes out after it, and an action refused before Desk accepted
// anything of it counts as not started, so that the refusal is reported once rather
// than once per action.
type gate struct {
	r       *runner
	event   Event
	started bool
	refused bool
}

func (g *gate) do(ctx context.Context, call func() error) error {
	select {
	case g.r.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.r.slots }() // after the refusal is latched, so no request slips by
	g.r.mu.Lock()
	refused := g.r.res.Refused
	g.r.mu.Unlock()
	if refused != nil {
		g.refused = true
		return refused
	}
	err := call()
	if desk.IsAuth(err) {
		g.refused = true
		g.r.mu.Lock()
		if g.r.res.Refused == nil {
			g.r.res.Refused = err
		}
		g.r.mu.Unlock()
		return err
	}
	g.start()
	return err
}

func (g *gate) start() {
	if !g.started {
		g.started = true
		g.r.prog.Start(g.event)
	}
}

func (g *gate) CreateRef(ctx context.Context, req desk.RefRequest) (ref *desk.Ref, err error) {
	err = g.do(ctx, func() error { ref, err = g.r.opts.Desk.CreateRef(ctx, req); return err })
	return ref, err
}

func (g *gate) Upload(ctx context.Context, ref *desk.Ref, body io.ReaderAt, size int64, filename string, progress func(n int64)) error {
	return g.do(ctx, func() error { return g.r.opts.Desk.Upload(ctx, ref, body, size, filename, progress) })
}

func (g *gate) UpdateFile(ctx context.Context, id int64, u desk.FileUpdate) (f *desk.File, err error) {
	err = g.do(ctx, func() error { f, err = g.r.opts.Desk.UpdateFile(ctx, id, u); return err })
	return f, err
}

func (g *gate) GetFile(ctx context.Context, id int64) (f *desk.File, err error) {
	err = g.do(ctx, func() error { f, err = g.r.opts.Desk.GetFile(ctx, id); return err })
	return f, err
}

func (g *gate) DeleteFile(ctx context.Context, id int64) error {
	return g.do(ctx, func() error { return g.r.opts.Desk.DeleteFile(ctx, id) })
}

// stepErr wraps err as the failure of step for address; a *SaveError already says
// where and stays as it is.
func stepErr(address, step string, err error) error {
	if se := (*SaveError)(nil); errors.As(err, &se) {
		return err
	}
	return &ActionError{Address: address, Step: step, Err: err}
}
