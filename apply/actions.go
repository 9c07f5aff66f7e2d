package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// The tasks below are made between phases and take what they need of the state then;
// while they run, only the writer touches the state.

func (r *runner) cleanupTasks() []task {
	var tasks []task
	for _, c := range r.opts.Plan.Cleanups {
		i := slices.IndexFunc(r.opts.State.Deposed, func(d state.Deposed) bool { return d.ID == c.ID })
		p := r.opts.State.Pending[c.Address]
		switch {
		case c.Kind == plan.CleanupDeposed && i >= 0:
			tasks = append(tasks, r.deposedTask(r.opts.State.Deposed[i], ActionCleanup))
		case c.Kind == plan.CleanupPending && p != nil && p.ID == c.ID:
			tasks = append(tasks, r.pendingTask(c.Address, *p))
		default:
			r.fail(c.Address, ActionCleanup, stepErr(c.Address, "cleanup", fmt.Errorf("the state holds no %s record of Desk file %d; plan again", c.Kind, c.ID)))
		}
	}
	return tasks
}

func (r *runner) pendingTask(addr string, p state.Pending) task {
	pc := pendingCleanup{addr: addr, p: p, prev: r.opts.State.Attachments[addr]}
	for _, ch := range r.opts.Plan.Changes {
		if ch.Address == addr && uploads(ch) {
			pc.want, pc.replace = ch.After, ch.Action == plan.Replace
		}
	}
	return task{action: ActionCleanup, event: Event{Address: addr, Action: ActionCleanup, Kind: KindPending, ID: p.ID},
		run: func(ctx context.Context, d Desk, ev *Event) error { return r.cleanupPending(ctx, d, pc, ev) }}
}

// cleanupPending resolves an upload an earlier apply left between ref and activation.
// It is adopted only when Desk shows it active with exactly what this plan uploads, since
// uploading again would only make a second copy; otherwise its temp file is deleted and
// the address uploaded afresh.
func (r *runner) cleanupPending(ctx context.Context, d Desk, pc pendingCleanup, ev *Event) error {
	addr, p := pc.addr, pc.p
	f, err := d.GetFile(ctx, p.ID)
	switch {
	case desk.IsNotFound(err):
		f = &desk.File{ID: p.ID, State: deletedState}
	case err != nil:
		return stepErr(addr, fmt.Sprintf("check pending upload %d", p.ID), err)
	}
	if pc.want != nil && adoptable(f, pc.want, p.Blake3) {
		ev.Adopted = true
		if err := r.record(addr, activation(addr, pc.want, p.ID, pc.prev, r.now())...); err != nil {
			return err
		}
		r.mu.Lock()
		r.adopted[addr] = true
		if !pc.replace {
			r.res.Created++ // a replace counts once its old half is deleted
		}
		r.mu.Unlock()
		return nil
	}
	if err := remove(ctx, d, pendingTarget(addr, p), f); err != nil {
		return stepErr(addr, fmt.Sprintf("delete leftover temp file %d", p.ID), err)
	}
	if err := r.record(addr, state.Mutation{Op: state.OpDropPending, Address: addr, ID: p.ID}); err != nil {
		return err
	}
	r.count(&r.res.Cleaned)
	return nil
}

// pendingCleanup is what cleanupPending needs: the pending record, the attachment it
// would supersede, and what the plan uploads for the address (nil when nothing).
type pendingCleanup struct {
	addr    string
	p       state.Pending
	prev    *state.Attachment
	want    *plan.Attrs
	replace bool
}

// adoptable reports whether the Desk file f is an active upload of exactly want.
func adoptable(f *desk.File, want *plan.Attrs, pendingBlake3 string) bool {
	return f.State == activeState &&
		f.Size == want.Size &&
		pendingBlake3 != "" && strings.EqualFold(pendingBlake3, want.Blake3) &&
		f.Filename == want.Filename &&
		f.Disposition == want.Disposition &&
		f.MimeType == want.MimeType &&
		(f.Type == "" || f.Type == want.Type)
}

// activation is the mutations that make Desk file id the active file of addr with
// attrs: the previous attachment, if any, is deposed in the same append, so that it is
// never lost track of.
func activation(addr string, attrs *plan.Attrs, id int64, prev *state.Attachment, now time.Time) []state.Mutation {
	now = now.UTC()
	a := state.Attachment{
		ID: id, Filename: attrs.Filename, MimeType: attrs.MimeType, Disposition: attrs.Disposition,
		Type: attrs.Type, Size: attrs.Size, Blake3: strings.ToLower(attrs.Blake3), State: activeState, UploadedAt: now,
	}
	var muts []state.Mutation
	if prev != nil && prev.ID != id {
		muts = append(muts, state.Mutation{Op: state.OpDepose, Deposed: &state.Deposed{
			Address: addr, ID: prev.ID, Filename: prev.Filename, Size: prev.Size, Since: now}})
	}
	return append(muts, state.Mutation{Op: state.OpActivate, Address: addr, Attachment: &a})
}

func (r *runner) uploadTask(ch plan.Change) task {
	ev := Event{Address: ch.Address, Action: plan.Create.String(), Size: ch.After.Size}
	if ch.Action == plan.Replace {
		ev.Action = plan.Replace.String()
		if ch.Before != nil {
			ev.PrevID = ch.Before.ID
		}
	}
	prev := r.opts.State.Attachments[ch.Address]
	return task{action: ev.Action, event: ev, run: func(ctx context.Context, d Desk, ev *Event) error {
		return r.upload(ctx, d, ch, prev, ev)
	}}
}

// upload performs one upload as docs/upload.md says: ref, record pending, S3 POST, PATCH to
// active, record the attachment (deposing its predecessor).
func (r *runner) upload(ctx context.Context, d Desk, ch plan.Change, prev *state.Attachment, ev *Event) error {
	addr, want := ch.Address, ch.After
	entry, ok := r.entries[addr]
	if !ok {
		return stepErr(addr, "open file", errors.New("the manifest has no entry for this address; the plan does not match the manifest"))
	}
	f, err := r.opts.Manifest.Open(entry)
	if err != nil {
		return stepErr(addr, "open file", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return stepErr(addr, "open file", err)
	}
	if fi.Size() != want.Size {
		return stepErr(addr, "open file", &FileChangedError{Address: addr, Detail: fmt.Sprintf("size is %d bytes, the plan has %d", fi.Size(), want.Size)})
	}
	body := &verifier{r: f}

	var pending state.Pending
	for refreshes := 0; ; refreshes++ {
		if err := ctx.Err(); err != nil {
			return stepErr(addr, "create ref", err)
		}
		refCtx, stop := refContext(ctx)
		ref, err := d.CreateRef(refCtx, desk.RefRequest{
			Type: want.Type, Filename: want.Filename, MimeType: want.MimeType, Disposition: want.Disposition,
		})
		stop()
		if err != nil {
			return stepErr(addr, "create ref", err)
		}
		ev.ID = ref.File.ID
		pending = state.Pending{ID: ref.File.ID, Blake3: strings.ToLower(want.Blake3), Filename: want.Filename, Size: want.Size, StartedAt: r.now().UTC()}
		if err := r.record(addr, state.Mutation{Op: state.OpSetPending, Address: addr, Pending: &pending}); err != nil {
			// The state cannot record the temp file, so do not leave it behind.
			_ = remove(ctx, d, pendingTarget(addr, pending), nil)
			return err
		}
		err = d.Upload(ctx, ref, body, want.Size, want.Filename, func(n int64) { r.prog.Advance(addr, n) })
		if err == nil {
			break
		}
		if !desk.IsPolicyExpired(err) || refreshes == maxPolicyRefreshes {
			return r.abandon(ctx, d, addr, pending, stepErr(addr, "upload to S3", err))
		}
		// Only a new ref brings a new policy; the stale temp file goes first, so that
		// its pending record can make way for the new one.
		if derr := remove(ctx, d, pendingTarget(addr, pending), nil); derr != nil {
			return stepErr(addr, "upload to S3", fmt.Errorf("%w (removing the expired temp file %d also failed, it stays pending for the next apply: %v)", err, pending.ID, derr))
		}
		if err := r.record(addr, state.Mutation{Op: state.OpDropPending, Address: addr, ID: pending.ID}); err != nil {
			return err
		}
	}
	id := pending.ID

	if sum, ok := body.sum(want.Size); ok && !strings.EqualFold(sum, want.Blake3) {
		return r.abandon(ctx, d, addr, pending, stepErr(addr, "upload to S3", &FileChangedError{Address: addr, Detail: "its content changed (blake3 " + sum[:12] + "…, the plan has " + short(want.Blake3) + "…)"}))
	}
	file, err := d.UpdateFile(ctx, id, desk.FileUpdate{State: ptr(activeState)})
	if err == nil && (file.State != activeState || file.Size != want.Size) {
		err = fmt.Errorf("Desk reports file %d as %q with %d bytes, expected active with %d", id, file.State, file.Size, want.Size)
	}
	if err != nil {
		return r.abandon(ctx, d, addr, pending, stepErr(addr, fmt.Sprintf("activate file %d", id), err))
	}
	if err := r.record(addr, activation(addr, want, id, prev, r.now())...); err != nil {
		return err
	}
	if ch.Action == plan.Create {
		r.count(&r.res.Created)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func short(h string) string { return h[:min(len(h), 12)] }

// refGrace is how long a ref request already sent may still take to answer after a
// hard stop, so that its temp file can be recorded as pending.
const refGrace = 5 * time.Second

// refContext is the context of a CreateRef call. Desk creates the temp file as it
// answers a ref, and only the answer says its id: abandoning the call once the request
// is on the wire would leave a temp file that nothing records and no endpoint lists.
// So a cancelled ctx cancels the call only while the request has not been written;
// after that the answer is awaited for up to refGrace.
func refContext(ctx context.Context) (refCtx context.Context, stop func()) {
	var sent atomic.Bool
	refCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	refCtx = httptrace.WithClientTrace(refCtx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) },
	})
	var grace *time.Timer
	var mu sync.Mutex
	unhook := context.AfterFunc(ctx, func() {
		if !sent.Load() {
			cancel()
			return
		}
		mu.Lock()
		grace = time.AfterFunc(refGrace, cancel)
		mu.Unlock()
	})
	return refCtx, func() {
		unhook()
		mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// abandon deletes the temp file of a failed upload, best effort, and returns cause.
// When the delete fails too, the pending record stays for the next apply.
func (r *runner) abandon(ctx context.Context, d Desk, addr string, p state.Pending, cause error) error {
	if err := remove(ctx, d, pendingTarget(addr, p), nil); err != nil {
		return cause
	}
	if err := r.record(addr, state.Mutation{Op: state.OpDropPending, Address: addr, ID: p.ID}); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (r *runner) updateTask(ch plan.Change) task {
	from := cmp.Or(ch.PreviousAddress, ch.Address)
	cur := *r.opts.State.Attachments[from]
	ev := Event{Address: ch.Address, Action: ch.Action.String(), PreviousAddress: ch.PreviousAddress, ID: cur.ID}
	return task{action: ev.Action, event: ev, run: func(ctx context.Context, d Desk, _ *Event) error {
		next, err := r.patch(ctx, d, from, cur, ch.Before, ch.After)
		if err != nil {
			return err
		}
		if ch.Action == plan.Move {
			if err := r.record(ch.Address, state.Mutation{Op: state.OpMove, PreviousAddress: from, Address: ch.Address, Attachment: &next}); err != nil {
				return err
			}
			r.count(&r.res.Moved)
			return nil
		}
		if err := r.record(from, state.Mutation{Op: state.OpActivate, Address: from, Attachment: &next}); err != nil {
			return err
		}
		r.count(&r.res.Updated)
		return nil
	}}
}

// patch PATCHes the upload name and disposition of cur's Desk file (recorded at addr)
// from before's to want's where they differ, and returns the record that describes the
// file then. before is the plan's view, which differs from cur when the plan read Desk
// (--refresh) and found the file changed there.
//
// The fields the PATCH changes are first recorded as unknown (""): Desk may apply the
// PATCH and the process die before the state records it, and a state claiming the old
// values would never correct Desk if the manifest went back to them. An unknown value
// differs from every manifest value, so the next plan PATCHes again.
func (r *runner) patch(ctx context.Context, d Desk, addr string, cur state.Attachment, before, want *plan.Attrs) (state.Attachment, error) {
	next := cur
	next.Filename, next.Disposition = want.Filename, want.Disposition
	var u desk.FileUpdate
	unknown := cur
	if before.Filename != want.Filename || cur.Filename != want.Filename {
		u.Filename, unknown.Filename = ptr(want.Filename), ""
	}
	if before.Disposition != want.Disposition || cur.Disposition != want.Disposition {
		u.Disposition, unknown.Disposition = ptr(want.Disposition), ""
	}
	if u.Filename == nil && u.Disposition == nil {
		return next, nil
	}
	if err := r.record(addr, state.Mutation{Op: state.OpActivate, Address: addr, Attachment: &unknown}); err != nil {
		return cur, err
	}
	step := fmt.Sprintf("update file %d", cur.ID)
	f, err := d.UpdateFile(ctx, cur.ID, u)
	var ae *desk.APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		// Desk refused the PATCH, so the old values still hold.
		_ = r.record(addr, state.Mutation{Op: state.OpActivate, Address: addr, Attachment: &cur})
	}
	if err != nil {
		return cur, stepErr(addr, step, err)
	}
	if f.Filename != want.Filename || f.Disposition != want.Disposition {
		return cur, stepErr(addr, step, fmt.Errorf("Desk reports file %d with filename %q and disposition %q, expected %q and %q",
			cur.ID, f.Filename, f.Disposition, want.Filename, want.Disposition))
	}
	return next, nil
}

func (r *runner) deleteTask(ch plan.Change) task {
	cur := r.opts.State.Attachments[ch.Address]
	target := target{address: ch.Address, id: cur.ID, record: "attachment", filename: cur.Filename, size: cur.Size}
	return task{action: plan.Delete.String(), event: Event{Address: ch.Address, Action: plan.Delete.String(), ID: cur.ID},
		run: func(ctx context.Context, d Desk, _ *Event) error {
			if err := remove(ctx, d, target, nil); err != nil {
				return stepErr(ch.Address, fmt.Sprintf("delete file %d", target.id), err)
			}
			if err := r.record(ch.Address, state.Mutation{Op: state.OpForget, Address: ch.Address}); err != nil {
				return err
			}
			r.count(&r.res.Deleted)
			return nil
		}}
}

// deposedTasks delete the files deposed in this run: the old halves of replaces. A
// deposed file of an earlier run was a cleanup, and is not tried twice.
func (r *runner) deposedTasks() []task {
	deposed := slices.Clone(r.opts.State.Deposed)
	slices.SortStableFunc(deposed, func(a, b state.Deposed) int { return cmp.Compare(a.Address, b.Address) })
	var tasks []task
	for _, d := range deposed {
		if slices.ContainsFunc(r.opts.Plan.Cleanups, func(c plan.Cleanup) bool { return c.ID == d.ID }) {
			continue
		}
		action := plan.Create.String() // an adopted create whose address already had a file
		if slices.ContainsFunc(r.opts.Plan.Changes, func(ch plan.Change) bool { return ch.Address == d.Address && ch.Action == plan.Replace }) {
			action = plan.Replace.String()
		}
		tasks = append(tasks, r.deposedTask(d, action))
	}
	return tasks
}

// deposedTask deletes a deposed file, as a cleanup or as the last step of action.
func (r *runner) deposedTask(dep state.Deposed, action string) task {
	ev := Event{Address: dep.Address, Action: plan.Delete.String(), Kind: KindDeposed, ID: dep.ID}
	done := &r.res.Cleaned
	switch action {
	case ActionCleanup:
		ev.Action = ActionCleanup
	case plan.Replace.String():
		done = &r.res.Replaced
	}
	return task{action: action, event: ev, run: func(ctx context.Context, d Desk, _ *Event) error {
		if err := remove(ctx, d, deposedTarget(dep), nil); err != nil {
			return stepErr(dep.Address, fmt.Sprintf("delete old file %d", dep.ID), err)
		}
		if err := r.record(dep.Address, state.Mutation{Op: state.OpUndepose, ID: dep.ID}); err != nil {
			return err
		}
		r.count(done)
		return nil
	}}
}

// target is a Desk file to delete, as the state records it.
type target struct {
	address string
	id      int64
	// record is the kind of state record: "attachment", "pending" or "deposed".
	record   string
	filename string
	size     int64
}

func pendingTarget(addr string, p state.Pending) target {
	return target{address: addr, id: p.ID, record: KindPending, filename: p.Filename, size: p.Size}
}

func deposedTarget(d state.Deposed) target {
	return target{address: d.Address, id: d.ID, record: KindDeposed, filename: d.Filename, size: d.Size}
}

// remove deletes t's Desk file after checking, with a GET (or f, when the caller has
// just fetched it), that Desk's file has the filename and size the state records: a
// state edited to point at someone else's file must not delete it (SECURITY.md). A file
// already gone counts as deleted.
func remove(ctx context.Context, d Desk, t target, f *desk.File) error {
	if f == nil {
		var err error
		f, err = d.GetFile(ctx, t.id)
		if desk.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if f.State == deletedState {
		return nil
	}
	// A temp file shows size 0 until it is activated.
	sizeOK := f.Size == t.size || t.record == KindPending && f.State != activeState && f.Size == 0
	if t.filename == "" || f.Filename != t.filename || !sizeOK {
		return &DeleteMismatchError{Address: t.address, ID: t.id, Record: t.record, Filename: t.filename, Size: t.size,
			DeskFilename: f.Filename, DeskSize: f.Size}
	}
	if err := d.DeleteFile(ctx, t.id); err != nil && !desk.IsNotFound(err) {
		return err
	}
	return nil
}
