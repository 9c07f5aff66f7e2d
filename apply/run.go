package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// Run executes opts.Plan: cleanups, uploads, updates, deletes, each phase finishing
// before the next starts, saving opts.State after every finished action.
//
// The returned Result is never nil (except for invalid Options) and records what was
// done, what failed and what was not started; Result.Err summarises it. Run itself
// returns an error only when the run as a whole was cut short: a state save failed
// (*SaveError), or ctx was cancelled (the error wraps ctx.Err()).
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := newRunner(opts)

	var uploads, updates, deletes []plan.Change
	for _, ch := range opts.Plan.Changes {
		switch ch.Action {
		case plan.Create, plan.Replace:
			uploads = append(uploads, ch)
		case plan.Update:
			updates = append(updates, ch)
		case plan.Delete:
			deletes = append(deletes, ch)
		}
	}
	r.res.Total = len(opts.Plan.Changes) + len(opts.Plan.Cleanups)
	totals := Totals{Actions: len(opts.Plan.Cleanups) + len(uploads) + len(updates) + len(deletes)}
	for _, ch := range uploads {
		totals.Bytes += ch.After.Size
		if ch.Action == plan.Replace {
			totals.Actions++ // the old half is deleted in the last phase
		}
	}
	r.prog.Begin(totals)

	// Phase 1: leftovers of an interrupted apply. Adopted uploads and uploads whose
	// old pending entry could not be cleared are taken out of phase 2.
	var tasks []task
	for _, c := range opts.Plan.Cleanups {
		tasks = append(tasks, r.cleanupTask(c))
	}
	r.runPhase(ctx, tasks)

	tasks = tasks[:0]
	for _, ch := range uploads {
		tasks = append(tasks, r.uploadTask(ch))
	}
	r.runPhase(ctx, tasks)

	tasks = tasks[:0]
	for _, ch := range updates {
		tasks = append(tasks, r.updateTask(ch))
	}
	r.runPhase(ctx, tasks)

	// Phase 4: plain deletes and the old halves of replaces, deposed in phases 1–2.
	tasks = tasks[:0]
	for _, ch := range deletes {
		tasks = append(tasks, r.deleteTask(ch))
	}
	r.mu.Lock()
	deposed := slices.Clone(r.deposed)
	r.mu.Unlock()
	slices.SortStableFunc(deposed, func(a, b deposedFile) int { return cmp.Compare(a.address, b.address) })
	for _, d := range deposed {
		tasks = append(tasks, r.deposedTask(d))
	}
	r.runPhase(ctx, tasks)

	byAddress := func(a, b Failure) int { return cmp.Compare(a.Address, b.Address) }
	slices.SortStableFunc(r.res.Failures, byAddress)
	slices.SortStableFunc(r.res.Skipped, byAddress)
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
	if o.Plan != nil && o.Manifest == nil {
		for _, ch := range o.Plan.Changes {
			if ch.Action == plan.Create || ch.Action == plan.Replace {
				missing = append(missing, "Manifest")
				break
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("apply: options lack %s", strings.Join(missing, ", "))
	}
	if o.Plan != nil {
		for _, ch := range o.Plan.Changes {
			if (ch.Action == plan.Create || ch.Action == plan.Replace || ch.Action == plan.Update) && ch.After == nil {
				return fmt.Errorf("apply: plan change %s (%s) has no desired attributes", ch.Address, ch.Action)
			}
			if (ch.Action == plan.Update || ch.Action == plan.Delete) && ch.Before == nil {
				return fmt.Errorf("apply: plan change %s (%s) has no state record", ch.Address, ch.Action)
			}
		}
	}
	return nil
}

// runner is one Run's working set.
type runner struct {
	opts Options
	now  func() time.Time
	prog Progress
	// par is how many Desk requests (an upload counting as one) may be in flight at
	// once; open is how many actions of a phase may be under way, the others waiting
	// only for the state file (see runPhase).
	par, open int
	// commitDelay is Options.CommitDelay, resolved.
	commitDelay time.Duration
	hashers     hashers
	entries     map[string]manifest.Entry
	// wanted is the desired attributes of every address the plan uploads, for
	// deciding whether a pending upload can be adopted.
	wanted map[string]*plan.Attrs

	// interrupted latches the soft stop once opts.Interrupt fired.
	interrupted atomic.Bool

	// mu serializes every read and write of the state and of the fields below. Saves
	// run one at a time, each of a copy taken under mu, so they follow the order of
	// the mutations.
	mu  sync.Mutex
	res *Result
	// saveErr is the first failed save; once set, no new action starts.
	saveErr *SaveError
	// Group commit (see commit): seq counts mutations; durable is the last one a
	// completed save holds, attempted the last one a finished save (good or not)
	// covered; saving says a committer is writing, and saved wakes the others.
	seq, durable, attempted uint64
	saving                  bool
	lastSaveErr             error
	saved                   *sync.Cond
	// done marks addresses whose upload needs no phase 2 (adopted) and blocked those
	// whose earlier pending upload could not be cleared.
	done    map[string]bool
	blocked map[string]int64
	// deposed is the old files of replaces made active during this run, deleted in
	// the last phase.
	deposed []deposedFile
}

type deposedFile struct {
	address string
	id      int64
	// replace says the file is the old half of a planned replace (so its deletion
	// completes that replace), rather than a safety net for a state that already
	// held the address.
	replace bool
}

func newRunner(opts Options) *runner {
	r := &runner{
		opts:    opts,
		now:     opts.Now,
		prog:    opts.Progress,
		par:     opts.Parallelism,
		entries: map[string]manifest.Entry{},
		wanted:  map[string]*plan.Attrs{},
		res:     &Result{},
		done:    map[string]bool{},
		blocked: map[string]int64{},
	}
	r.saved = sync.NewCond(&r.mu)
	if r.now == nil {
		r.now = time.Now
	}
	if r.prog == nil {
		r.prog = noProgress{}
	}
	if r.par <= 0 {
		r.par = DefaultParallelism
	}
	r.open = openActions(r.par)
	switch r.commitDelay = opts.CommitDelay; {
	case r.commitDelay == 0:
		r.commitDelay = DefaultCommitDelay
	case r.commitDelay < 0:
		r.commitDelay = 0
	}
	// Every Desk call takes a turn first; see turns.
	r.opts.Desk = turnTaker{next: opts.Desk}
	if opts.Manifest != nil {
		for _, e := range opts.Manifest.Entries {
			r.entries[e.Address] = e
		}
	}
	for _, ch := range opts.Plan.Changes {
		if ch.Action == plan.Create || ch.Action == plan.Replace {
			r.wanted[ch.Address] = ch.After
		}
	}
	if opts.State.Attachments == nil {
		opts.State.Attachments = map[string]*state.Attachment{}
	}
	if opts.State.Pending == nil {
		opts.State.Pending = map[string]*state.Pending{}
	}
	return r
}

// task is one action of a phase. run fills in the event's ID fields as it learns them;
// it returns nil on success, or an error naming the address and step.
type task struct {
	address string
	action  string // for Failure.Action: the planned change this task belongs to
	event   Event
	// skip, when set and returning true at start time, drops the task silently
	// (its work was done or accounted for by an earlier phase).
	skip func() bool
	run  func(ctx context.Context, ev *Event) error
}

// runPhase runs tasks and returns when all have finished, their last state change
// saved. Tasks not started because of a stop are recorded in Result.Skipped.
//
// r.par bounds the Desk requests in flight (an upload to S3 counting as one request):
// an action holds one of r.par turns while it talks to Desk, and gives it up while it
// waits for a state save to record its last step (commit), taking one again (ahead of
// actions not yet started) only for its next request. Without that, at the default
// parallelism of 4 most turns were spent waiting for saves: four uploads each waiting
// for the same save, leaving Desk and S3 idle, and each save recording only the two or
// so changes that had finished meanwhile. Now the turns go to new uploads while one
// save records the steps of many. Up to r.open actions may be under way at once (one
// open file each), so that the waiting ones cannot pile up without bound (see openActions).
func (r *runner) runPhase(ctx context.Context, tasks []task) {
	turns := newTurns(r.par)
	open := make(chan struct{}, r.open)
	var wg sync.WaitGroup
	for _, t := range tasks {
		if t.skip != nil && t.skip() {
			continue
		}
		if r.stopped(ctx, t) {
			continue
		}
		acquired := false
		select {
		case open <- struct{}{}:
			acquired = turns.take(ctx, false) == nil
			if !acquired {
				<-open
			}
		case <-ctx.Done():
		}
		// Re-check: waiting for a turn can take as long as an upload.
		if r.stopped(ctx, t) {
			if acquired {
				turns.give()
				<-open
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-open }()
			h := &turnHolder{turns: turns, held: true}
			ev := t.event
			r.prog.Start(ev)
			err := t.run(context.WithValue(ctx, turnKey{}, h), &ev)
			h.giveUp()
			r.prog.Finish(ev, err)
			if err != nil {
				r.fail(t.address, t.action, err)
			}
		}()
	}
	wg.Wait()
}

// openActions is how many actions may be under way at once for parallelism par: eight
// per turn. Only actions waiting for a state save go beyond par, and the more of them
// share a save, the fewer saves an apply makes: on loopback, where a save of a large
// state takes longer than a request, 1,000 small files took 0.42 saves each with three
// per turn and 0.28 with eight (1.5 s against 1.2 s at parallelism 4); sixteen gained
// nothing more. Over a real network requests take longer than saves, and few actions
// wait. Each open action holds its file open, hence a bound at all.
//
// With par 1 apply stays strictly sequential, one action from its first request to its
// saved result before the next starts: what --parallelism 1 has always meant, and the
// one-by-one baseline the benchmarks compare with.
func openActions(par int) int {
	if par == 1 {
		return 1
	}
	return 8 * par
}

// stopped reports whether no new action may start, recording t as skipped if so.
func (r *runner) stopped(ctx context.Context, t task) bool {
	var cause error
	r.mu.Lock()
	saveFailed := r.saveErr != nil
	r.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		cause = fmt.Errorf("not started: %w", ctx.Err())
	case saveFailed:
		cause = ErrStateNotSaved
	case r.isInterrupted():
		cause = ErrInterrupted
	default:
		return false
	}
	r.mu.Lock()
	r.res.Skipped = append(r.res.Skipped, Failure{Address: t.address, Action: t.action, Err: cause})
	r.mu.Unlock()
	return true
}

func (r *runner) isInterrupted() bool {
	if r.interrupted.Load() {
		return true
	}
	select {
	case <-r.opts.Interrupt:
		r.interrupted.Store(true)
		return true
	default:
		return false
	}
}

func (r *runner) fail(address, action string, err error) {
	r.mu.Lock()
	r.res.Failures = append(r.res.Failures, Failure{Address: address, Action: action, Err: err})
	r.mu.Unlock()
}

// commit applies mutate to the state and returns once a save that includes it has
// completed, so that no caller moves on to its next Desk call before the state file
// records what it did.
//
// It also gives up the caller's turn (see runPhase) while it waits.
//
// Saves are group commits: mutations are applied under the state mutex, and one
// committer at a time saves a copy of the state holding every mutation so far, while
// the others wait for the save that covers theirs. Each save is as crash-safe as ever
// (temp file, fsync, rename, fsync of the folder); there are just fewer of them when
// several actions finish while one is being written. A save costs time in proportion
// to the state's size, so without grouping a large apply spent nearly all its time
// in saves, one after another, whatever the parallelism.
//
// The save ignores ctx cancellation: what finished on Desk must be recorded even
// during a hard stop.
func (r *runner) commit(ctx context.Context, address string, mutate func(st *state.State, res *Result)) error {
	// Waiting for a save is no Desk request: let another action have the turn. The
	// next Desk call of this action takes one again (turnTaker), so none is sent before
	// this mutation is saved.
	h, _ := ctx.Value(turnKey{}).(*turnHolder)
	if h != nil {
		h.giveUp()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mutate(r.opts.State, r.res)
	r.seq++
	mine := r.seq
	for {
		switch {
		case r.durable >= mine:
			return nil
		case r.attempted >= mine:
			// The save that covered this mutation failed (and none since succeeded).
			return &SaveError{Address: address, Err: r.lastSaveErr}
		case r.saving:
			r.saved.Wait()
			continue
		}
		// Become the committer for every mutation so far. The copy is what makes it
		// safe to write outside the mutex while other actions mutate the state.
		r.saving = true
		if h != nil {
			r.mu.Unlock()
			r.awaitSiblings(h.turns)
			r.mu.Lock()
		}
		upto := r.seq
		snap := r.opts.State.Clone()
		r.mu.Unlock()
		err := r.opts.Store.Save(context.WithoutCancel(ctx), snap)
		r.mu.Lock()
		r.saving = false
		// Save bumps the serial once the new file is in place, even when only the
		// folder sync failed afterwards.
		r.opts.State.Serial = snap.Serial
		r.attempted = upto
		if err == nil {
			r.durable = upto
		} else {
			r.lastSaveErr = err
			if r.saveErr == nil {
				r.saveErr = &SaveError{Address: address, Err: err}
			}
		}
		r.saved.Broadcast()
	}
}

// awaitSiblings is the commit delay (PostgreSQL's commit_delay and commit_siblings):
// before a committer copies the state, it waits up to r.commitDelay for the requests
// in flight to finish, since most of them end in a commit that this save can then
// include. A save costs time in proportion to the state's size, and on a fast link
// saves were a quarter to a third of apply's CPU. It stops waiting as soon as no
// request is in flight, as then nothing more can join, and does not wait at all
// with parallelism 1.
func (r *runner) awaitSiblings(t *turns) {
	if r.commitDelay <= 0 {
		return
	}
	idle := t.whenIdle()
	if idle == nil {
		return
	}
	timer := time.NewTimer(r.commitDelay)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
	}
}

// stepErr wraps err as the failure of step for address.
func stepErr(address, step string, err error) error {
	var se *SaveError
	if errors.As(err, &se) {
		return err // already says where; do not bury it under a step name
	}
	return &ActionError{Address: address, Step: step, Err: err}
}

func ptr[T any](v T) *T { return &v }

// attachment is the state record for a file that is now active with attrs.
func attachment(attrs *plan.Attrs, id int64, at time.Time) *state.Attachment {
	return &state.Attachment{
		ID:          id,
		Filename:    attrs.Filename,
		MimeType:    attrs.MimeType,
		Disposition: attrs.Disposition,
		Type:        attrs.Type,
		Size:        attrs.Size,
		Blake3:      strings.ToLower(attrs.Blake3),
		State:       "active",
		UploadedAt:  at.UTC(),
	}
}

// activate records that the file id is now the active file of address: it leaves
// pending, becomes the attachment, and any previous attachment is deposed in the same
// save so that it can never be lost track of.
func (r *runner) activate(st *state.State, address string, attrs *plan.Attrs, id int64, replace bool) {
	now := r.now().UTC()
	if p := st.Pending[address]; p != nil && p.ID == id {
		delete(st.Pending, address)
	}
	prev := st.Attachments[address]
	st.Attachments[address] = attachment(attrs, id, now)
	if prev != nil && prev.ID != id {
		st.Deposed = append(st.Deposed, state.Deposed{Address: address, ID: prev.ID, Since: now})
		r.deposed = append(r.deposed, deposedFile{address: address, id: prev.ID, replace: replace})
	}
}

// dropPending removes the pending entry of address if it still names id.
func dropPending(st *state.State, address string, id int64) {
	if p := st.Pending[address]; p != nil && p.ID == id {
		delete(st.Pending, address)
	}
}

// dropDeposed removes every deposed entry of address naming id.
func dropDeposed(st *state.State, address string, id int64) {
	st.Deposed = slices.DeleteFunc(st.Deposed, func(d state.Deposed) bool {
		return d.Address == address && d.ID == id
	})
	if len(st.Deposed) == 0 {
		st.Deposed = nil
	}
}

// deleteGone deletes the Desk file id, treating 404 as already deleted.
func (r *runner) deleteGone(ctx context.Context, id int64) error {
	err := r.opts.Desk.DeleteFile(ctx, id)
	if err != nil && desk.IsNotFound(err) {
		return nil
	}
	return err
}

// turns hands out the turns to talk to Desk within one phase: at most n at once, and to
// actions that already started (resuming after a save) before new ones, so that
// uploads under way finish before more are begun.
type turns struct {
	mu      sync.Mutex
	n, free int
	waiting []turnWaiter  // resuming actions first, each group in arrival order
	idle    chan struct{} // closed when the last held turn is given back; see whenIdle
}

type turnWaiter struct {
	granted chan struct{} // closed when the turn is handed over
	resume  bool
}

func newTurns(n int) *turns { return &turns{n: n, free: n} }

// whenIdle returns a channel closed once no turn is held, or nil if none is held now.
func (t *turns) whenIdle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.free == t.n {
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// take waits for a turn, or for ctx to end (then it returns ctx.Err() and holds none).
func (t *turns) take(ctx context.Context, resume bool) error {
	t.mu.Lock()
	if t.free > 0 { // nobody waits then: give hands a returned turn to the first waiter
		t.free--
		t.mu.Unlock()
		return nil
	}
	w := turnWaiter{granted: make(chan struct{}), resume: resume}
	at := len(t.waiting)
	if resume {
		at = slices.IndexFunc(t.waiting, func(w turnWaiter) bool { return !w.resume })
		if at < 0 {
			at = len(t.waiting)
		}
	}
	t.waiting = slices.Insert(t.waiting, at, w)
	t.mu.Unlock()

	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	i := slices.IndexFunc(t.waiting, func(x turnWaiter) bool { return x.granted == w.granted })
	if i >= 0 {
		t.waiting = slices.Delete(t.waiting, i, i+1)
	}
	t.mu.Unlock()
	if i < 0 { // handed over just as ctx ended: pass it on
		t.give()
	}
	return ctx.Err()
}

// give returns a turn, handing it to the first waiter if there is one.
func (t *turns) give() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.waiting) == 0 {
		t.free++
		if t.free == t.n && t.idle != nil {
			close(t.idle)
			t.idle = nil
		}
		return
	}
	close(t.waiting[0].granted)
	t.waiting = slices.Delete(t.waiting, 0, 1)
}

// turnHolder is one action's claim on a turn. It travels in the action's context
// (turnKey), where commit and turnTaker find it; only the action's goroutine uses it.
type turnHolder struct {
	turns *turns
	held  bool
}

type turnKey struct{}

// giveUp returns the turn if the action holds one.
func (h *turnHolder) giveUp() {
	if h.held {
		h.held = false
		h.turns.give()
	}
}

// turnTaker is the Desk every action calls: it makes sure the action holds a turn before
// each request. When ctx ends while the action waits for one, the call goes through
// anyway, so that it fails the way a cancelled request does (or, for a call given a
// context that outlives a hard stop, is still made).
type turnTaker struct{ next Desk }

func takeTurn(ctx context.Context) {
	h, ok := ctx.Value(turnKey{}).(*turnHolder)
	if !ok || h.held {
		return
	}
	if h.turns.take(ctx, true) == nil {
		h.held = true
	}
}

func (d turnTaker) CreateRef(ctx context.Context, req desk.RefRequest) (*desk.Ref, error) {
	takeTurn(ctx)
	return d.next.CreateRef(ctx, req)
}

func (d turnTaker) Upload(ctx context.Context, ref *desk.Ref, body io.ReaderAt, size int64, filename string, progress func(n int64)) error {
	takeTurn(ctx)
	return d.next.Upload(ctx, ref, body, size, filename, progress)
}

func (d turnTaker) UpdateFile(ctx context.Context, id int64, u desk.FileUpdate) (*desk.File, error) {
	takeTurn(ctx)
	return d.next.UpdateFile(ctx, id, u)
}

func (d turnTaker) GetFile(ctx context.Context, id int64) (*desk.File, error) {
	takeTurn(ctx)
	return d.next.GetFile(ctx, id)
}

func (d turnTaker) DeleteFile(ctx context.Context, id int64) error {
	takeTurn(ctx)
	return d.next.DeleteFile(ctx, id)
}
