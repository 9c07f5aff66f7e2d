package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// cleanupTask handles one leftover of an interrupted apply.
func (r *runner) cleanupTask(c plan.Cleanup) task {
	t := task{
		address: c.Address,
		action:  ActionCleanup,
		event:   Event{Address: c.Address, Action: ActionCleanup, Kind: string(c.Kind), ID: c.ID},
	}
	switch c.Kind {
	case KindPending:
		t.run = func(ctx context.Context, ev *Event) error { return r.cleanupPending(ctx, c, ev) }
	case KindDeposed:
		t.run = func(ctx context.Context, ev *Event) error {
			if err := r.deleteGone(ctx, c.ID); err != nil {
				return stepErr(c.Address, fmt.Sprintf("delete deposed file %d", c.ID), err)
			}
			return r.commit(ctx, c.Address, func(st *state.State, res *Result) {
				dropDeposed(st, c.Address, c.ID)
				res.Cleaned++
			})
		}
	default:
		t.run = func(context.Context, *Event) error {
			return stepErr(c.Address, "cleanup", fmt.Errorf("unknown cleanup kind %q (want pending or deposed)", c.Kind))
		}
	}
	return t
}

// cleanupPending resolves an upload an earlier apply left between ref and activation.
// It is adopted only when Desk shows it active with exactly what this plan uploads for
// the address (size, recorded blake3, and every attribute), since then uploading again
// would only make a second copy; in every other case its temp file is deleted and the
// address is uploaded afresh.
func (r *runner) cleanupPending(ctx context.Context, c plan.Cleanup, ev *Event) error {
	blake3 := c.Blake3
	r.mu.Lock()
	if p := r.opts.State.Pending[c.Address]; p != nil && p.ID == c.ID && p.Blake3 != "" {
		blake3 = p.Blake3
	}
	r.mu.Unlock()

	f, err := r.opts.Desk.GetFile(ctx, c.ID)
	switch {
	case err != nil && desk.IsNotFound(err):
		return r.commit(ctx, c.Address, func(st *state.State, res *Result) {
			dropPending(st, c.Address, c.ID)
			res.Cleaned++
		})
	case err != nil:
		r.block(c.Address, c.ID)
		return stepErr(c.Address, fmt.Sprintf("check pending upload %d", c.ID), err)
	}

	if want := r.wanted[c.Address]; want != nil && adoptable(f, want, blake3) {
		ev.Adopted = true
		replace := false
		for _, ch := range r.opts.Plan.Changes {
			if ch.Address == c.Address {
				replace = ch.Action == plan.Replace
			}
		}
		r.mu.Lock()
		r.done[c.Address] = true
		r.mu.Unlock()
		return r.commit(ctx, c.Address, func(st *state.State, res *Result) {
			r.activate(st, c.Address, want, c.ID, replace)
			if !replace {
				res.Created++ // a replace counts once its old half is deleted
			}
		})
	}

	if err := r.deleteGone(ctx, c.ID); err != nil {
		r.block(c.Address, c.ID)
		return stepErr(c.Address, fmt.Sprintf("delete leftover temp file %d", c.ID), err)
	}
	return r.commit(ctx, c.Address, func(st *state.State, res *Result) {
		dropPending(st, c.Address, c.ID)
		res.Cleaned++
	})
}

// adoptable reports whether the Desk file f is an active upload of exactly want.
func adoptable(f *desk.File, want *plan.Attrs, pendingBlake3 string) bool {
	return f.State == "active" &&
		f.Size == want.Size &&
		pendingBlake3 != "" && strings.EqualFold(pendingBlake3, want.Blake3) &&
		f.Filename == want.Filename &&
		f.Disposition == want.Disposition &&
		f.MimeType == want.MimeType &&
		(f.Type == "" || f.Type == want.Type)
}

// block keeps the upload of address out of phase 2: its earlier pending upload is still
// recorded, and a new one would overwrite that record and lose track of the old file.
func (r *runner) block(address string, id int64) {
	r.mu.Lock()
	r.blocked[address] = id
	r.mu.Unlock()
}

func (r *runner) uploadTask(ch plan.Change) task {
	ev := Event{Address: ch.Address, Action: ActionCreate, Size: ch.After.Size}
	if ch.Action == plan.Replace {
		ev.Action = ActionReplace
		if ch.Before != nil {
			ev.PrevID = ch.Before.ID
		}
	}
	return task{
		address: ch.Address,
		action:  ev.Action,
		event:   ev,
		skip: func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.done[ch.Address] {
				return true
			}
			if id, ok := r.blocked[ch.Address]; ok {
				r.res.Failures = append(r.res.Failures, Failure{Address: ch.Address, Action: ev.Action,
					Err: &ActionError{Address: ch.Address, Step: "upload", Err: fmt.Errorf(
						"not started: the earlier pending upload %d is still recorded and could not be cleared", id)}})
				return true
			}
			return false
		},
		run: func(ctx context.Context, ev *Event) error { return r.upload(ctx, ch, ev) },
	}
}

// upload performs one upload exactly as SPEC §4 says: ref, record pending and save,
// S3 POST, PATCH to active, record the attachment (and depose its predecessor) and save.
func (r *runner) upload(ctx context.Context, ch plan.Change, ev *Event) error {
	addr, want := ch.Address, ch.After
	entry, ok := r.entries[addr]
	if !ok {
		return stepErr(addr, "open file", errors.New("the manifest has no entry for this address; the plan does not match the manifest"))
	}
	r.mu.Lock()
	old := r.opts.State.Pending[addr]
	r.mu.Unlock()
	if old != nil {
		return stepErr(addr, "upload", fmt.Errorf("an earlier pending upload %d is still recorded; the plan did not clean it up", old.ID))
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
		return stepErr(addr, "open file", &ChangedError{Address: addr, Detail: fmt.Sprintf("size is %d bytes, the plan has %d", fi.Size(), want.Size)})
	}
	body := r.hashers.verifier(f)
	defer body.release()

	var id int64
	for refreshes := 0; ; refreshes++ {
		if err := ctx.Err(); err != nil {
			return stepErr(addr, "create ref", err)
		}
		refCtx, stop := refContext(ctx)
		ref, err := r.opts.Desk.CreateRef(refCtx, desk.RefRequest{
			Type: want.Type, Filename: want.Filename, MimeType: want.MimeType, Disposition: want.Disposition,
		})
		stop()
		if err != nil {
			return stepErr(addr, "create ref", err)
		}
		id = ref.File.ID
		ev.ID = id
		if err := r.commit(ctx, addr, func(st *state.State, _ *Result) {
			st.Pending[addr] = &state.Pending{ID: id, Blake3: strings.ToLower(want.Blake3), StartedAt: r.now().UTC()}
		}); err != nil {
			// The state file cannot record the temp file, so do not leave it behind.
			_ = r.deleteGone(ctx, id)
			return err
		}

		err = r.opts.Desk.Upload(ctx, ref, body, want.Size, want.Filename, func(n int64) { r.prog.Advance(addr, n) })
		if err == nil {
			break
		}
		if desk.IsPolicyExpired(err) && refreshes < maxPolicyRefreshes {
			// The signed policy expired before S3 saw the file (a slow link or a
			// long queue). Only a new ref brings a new policy; the stale temp file is
			// removed first so that its pending record can make way for the new one.
			if derr := r.deleteGone(ctx, id); derr != nil {
				return stepErr(addr, "upload to S3", fmt.Errorf("%w (removing the expired temp file %d also failed, it stays pending for the next apply: %v)", err, id, derr))
			}
			if cerr := r.commit(ctx, addr, func(st *state.State, _ *Result) { dropPending(st, addr, id) }); cerr != nil {
				return cerr
			}
			continue
		}
		return r.abandon(ctx, addr, id, stepErr(addr, "upload to S3", err))
	}

	if sum, ok := body.sum(want.Size); ok && !strings.EqualFold(sum, want.Blake3) {
		return r.abandon(ctx, addr, id, stepErr(addr, "upload to S3", &ChangedError{Address: addr, Detail: "its content changed (blake3 " + sum[:12] + "…, the plan has " + short(want.Blake3) + "…)"}))
	}

	file, err := r.opts.Desk.UpdateFile(ctx, id, desk.FileUpdate{State: ptr("active")})
	if err != nil {
		return r.abandon(ctx, addr, id, stepErr(addr, fmt.Sprintf("activate file %d", id), err))
	}
	if file.State != "active" || file.Size != want.Size {
		return r.abandon(ctx, addr, id, stepErr(addr, fmt.Sprintf("activate file %d", id), fmt.Errorf("Desk reports file %d as %q with %d bytes, expected active with %d", id, file.State, file.Size, want.Size)))
	}
	return r.commit(ctx, addr, func(st *state.State, res *Result) {
		r.activate(st, addr, want, id, ch.Action == plan.Replace)
		if ch.Action == plan.Create {
			res.Created++
		}
	})
}

// refGrace is how long a ref request already sent may still take to answer after a
// hard stop, so that its temp file can be recorded as pending.
const refGrace = 5 * time.Second

// refContext is the context of a CreateRef call. Desk creates the temp file as it
// answers a ref, and only the answer says its id: abandoning the call once the request
// is on the wire would leave a temp file that nothing records and no endpoint lists.
// So a cancelled ctx cancels the call only while the request has not been written;
// after that the answer is awaited for up to refGrace. stop releases the context.
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

// abandon deletes the temp file id of a failed upload, best effort, and returns cause.
// When the delete fails too, the pending entry stays so that the next apply cleans it.
func (r *runner) abandon(ctx context.Context, address string, id int64, cause error) error {
	if err := r.deleteGone(ctx, id); err != nil {
		return cause
	}
	if err := r.commit(ctx, address, func(st *state.State, _ *Result) { dropPending(st, address, id) }); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ChangedError says a local file no longer matches the plan: it changed after the plan
// was made or while it was being uploaded.
type ChangedError struct {
	Address string
	Detail  string
}

func (e *ChangedError) Error() string {
	return "the file changed since the plan was made: " + e.Detail
}

// Hint tells the user to plan again.
func (e *ChangedError) Hint() string {
	return "run desksync plan again (or apply without a plan file) so that the plan matches the files"
}

func (r *runner) updateTask(ch plan.Change) task {
	return task{
		address: ch.Address,
		action:  ActionUpdate,
		event:   Event{Address: ch.Address, Action: ActionUpdate, ID: ch.Before.ID},
		run: func(ctx context.Context, ev *Event) error {
			addr, before, want := ch.Address, ch.Before, ch.After
			r.mu.Lock()
			cur := r.opts.State.Attachments[addr]
			r.mu.Unlock()
			if cur == nil {
				return stepErr(addr, "update", errors.New("the state has no attachment for this address"))
			}
			ev.ID = cur.ID
			var u desk.FileUpdate
			if before.Filename != want.Filename {
				u.Filename = ptr(want.Filename)
			}
			if before.Disposition != want.Disposition {
				u.Disposition = ptr(want.Disposition)
			}
			if u.Filename != nil || u.Disposition != nil {
				// Record the fields this PATCH changes as unknown ("") first. Desk may
				// apply the PATCH and the process die before the state records it;
				// the state would then claim the old values, and a plan (which compares
				// the manifest with the state, offline) would never correct Desk if the
				// manifest went back to them. An unknown value differs from every
				// manifest value, so the next plan PATCHes it again.
				if err := r.commit(ctx, addr, func(st *state.State, _ *Result) {
					if a := st.Attachments[addr]; a != nil && a.ID == cur.ID {
						if u.Filename != nil {
							a.Filename = ""
						}
						if u.Disposition != nil {
							a.Disposition = ""
						}
					}
				}); err != nil {
					return err
				}
				f, err := r.opts.Desk.UpdateFile(ctx, cur.ID, u)
				var ae *desk.APIError
				if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
					// Desk refused the PATCH, so the old values still hold.
					_ = r.commit(ctx, addr, func(st *state.State, _ *Result) {
						if a := st.Attachments[addr]; a != nil && a.ID == cur.ID {
							a.Filename, a.Disposition = before.Filename, before.Disposition
						}
					})
				}
				if err != nil {
					return stepErr(addr, fmt.Sprintf("update file %d", cur.ID), err)
				}
				if f.Filename != want.Filename || f.Disposition != want.Disposition {
					return stepErr(addr, fmt.Sprintf("update file %d", cur.ID), fmt.Errorf("Desk reports file %d with filename %q and disposition %q, expected %q and %q",
						cur.ID, f.Filename, f.Disposition, want.Filename, want.Disposition))
				}
			}
			return r.commit(ctx, addr, func(st *state.State, res *Result) {
				if a := st.Attachments[addr]; a != nil && a.ID == cur.ID {
					a.Filename = want.Filename
					a.Disposition = want.Disposition
				}
				res.Updated++
			})
		},
	}
}

func (r *runner) deleteTask(ch plan.Change) task {
	return task{
		address: ch.Address,
		action:  ActionDelete,
		event:   Event{Address: ch.Address, Action: ActionDelete, ID: ch.Before.ID},
		run: func(ctx context.Context, ev *Event) error {
			addr, id := ch.Address, ch.Before.ID
			r.mu.Lock()
			if cur := r.opts.State.Attachments[addr]; cur != nil {
				id = cur.ID
			}
			r.mu.Unlock()
			ev.ID = id
			if err := r.deleteGone(ctx, id); err != nil {
				return stepErr(addr, fmt.Sprintf("delete file %d", id), err)
			}
			return r.commit(ctx, addr, func(st *state.State, res *Result) {
				if a := st.Attachments[addr]; a != nil && a.ID == id {
					delete(st.Attachments, addr)
				}
				res.Deleted++
			})
		},
	}
}

// deposedTask deletes the old half of a replace made active in this run.
func (r *runner) deposedTask(d deposedFile) task {
	action := ActionCreate
	if d.replace {
		action = ActionReplace
	}
	return task{
		address: d.address,
		action:  action,
		event:   Event{Address: d.address, Action: ActionDelete, Kind: KindDeposed, ID: d.id},
		run: func(ctx context.Context, _ *Event) error {
			if err := r.deleteGone(ctx, d.id); err != nil {
				return stepErr(d.address, fmt.Sprintf("delete old file %d", d.id), err)
			}
			return r.commit(ctx, d.address, func(st *state.State, res *Result) {
				dropDeposed(st, d.address, d.id)
				if d.replace {
					res.Replaced++
				} else {
					res.Cleaned++
				}
			})
		},
	}
}
