package refresh

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
	"golang.org/x/sync/errgroup"
)

// Desk is the part of the Desk client this package reads with; *desk.Client
// satisfies it.
type Desk interface {
	GetFile(ctx context.Context, id int64) (*desk.File, error)
	Download(ctx context.Context, url string, max int64) ([]byte, error)
}

var _ Desk = (*desk.Client)(nil)

// UnknownBlake3 is the blake3 recorded for a Desk file whose content desksync does not
// know: one whose size changed on Desk, or one imported with a size other than the
// local file's. No content hashes to 64 zeros in practice, so the next plan sees the
// content as changed and replaces the file, while the state file stays valid (it
// requires 64 hex digits).
const UnknownBlake3 = "0000000000000000000000000000000000000000000000000000000000000000"

// DefaultParallelism is how many files Run reads at once when asked for 0, the same
// as apply's default.
const DefaultParallelism = 4

// Kind is what drifted.
type Kind string

// Kinds of drift.
const (
	// Deleted: Desk answered 404, or shows the file as deleted.
	Deleted Kind = "deleted"
	// Filename and Disposition: Desk shows another value than the state.
	Filename    Kind = "filename"
	Disposition Kind = "disposition"
	// Size: Desk shows another size, so the content was replaced behind our back.
	Size Kind = "size"
	// State: Desk shows the file in a state other than active or deleted (e.g. temp).
	State Kind = "state"
)

// Drift is one difference found between the state and Desk for an address.
type Drift struct {
	Address string
	ID      int64
	Kind    Kind
	// Before is the state's value and After Desk's, as text; empty for Deleted.
	Before, After string
}

// String is the note shown in plans and in the refresh summary.
func (d Drift) String() string {
	switch d.Kind {
	case Deleted:
		return "deleted on Desk (drift)"
	case Size:
		return fmt.Sprintf("size changed on Desk: %s -> %s (drift)", d.Before, d.After)
	case State:
		return fmt.Sprintf("state on Desk is %q, not active (drift)", d.After)
	}
	return fmt.Sprintf("%s changed on Desk: %q -> %q (drift)", d.Kind, d.Before, d.After)
}

// Report is the outcome of Run.
type Report struct {
	// State is a refreshed deep copy of the state given to Run; the original is never
	// modified.
	State *state.State
	// Drift is every difference found, sorted by address.
	Drift []Drift
	// Mutations are the steps that made State from the state given, in the order
	// applied (by address): what a store records of the refresh.
	Mutations []state.Mutation
	// Checked is how many tracked files were read.
	Checked int
}

// Notes returns the drift as notes by address, for plan.Options.Drift.
func (r *Report) Notes() map[string][]string {
	notes := map[string][]string{}
	for _, d := range r.Drift {
		notes[d.Address] = append(notes[d.Address], d.String())
	}
	return notes
}

// Run GETs every file st tracks, at most parallelism at once (0 means
// DefaultParallelism), and returns the refreshed copy of st with the drift found. st
// nil is an empty state. When any read fails (other than a 404), Run returns a
// *ReadError naming every failed address and no report: a partial refresh would plan
// from a state that is half old, half new.
func Run(ctx context.Context, st *state.State, d Desk, parallelism int) (*Report, error) {
	if st == nil {
		return &Report{}, nil
	}
	if parallelism <= 0 {
		parallelism = DefaultParallelism
	}
	out := st.Clone()
	addrs := st.Addresses()

	type result struct {
		file *desk.File
		err  error
	}
	results := make([]result, len(addrs))
	var g errgroup.Group
	g.SetLimit(parallelism)
	for i, addr := range addrs {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				results[i].err = err
				return nil
			}
			f, err := d.GetFile(ctx, st.Attachments[addr].ID)
			results[i] = result{f, err}
			return nil
		})
	}
	_ = g.Wait() // every outcome is in results

	rep := &Report{State: out, Checked: len(addrs)}
	var failed []Failure
	for i, addr := range addrs {
		att := out.Attachments[addr]
		f, err := results[i].file, results[i].err
		switch {
		case err != nil && desk.IsNotFound(err):
			f = &desk.File{ID: att.ID, State: "deleted"}
		case err != nil:
			failed = append(failed, Failure{Address: addr, ID: att.ID, Err: err})
			continue
		}
		drift, muts := reconcile(addr, *att, out.Pending[addr], f)
		if err := applyAll(out, muts); err != nil {
			// Desk's answer cannot be recorded (the client refuses hostile records,
			// so this is a record the state format does not allow).
			failed = append(failed, Failure{Address: addr, ID: att.ID, Err: fmt.Errorf("record what Desk answered: %w", err)})
			continue
		}
		rep.Drift = append(rep.Drift, drift...)
		rep.Mutations = append(rep.Mutations, muts...)
	}
	if len(failed) > 0 {
		return nil, &ReadError{Failures: failed}
	}
	slices.SortStableFunc(rep.Drift, func(a, b Drift) int { return cmp.Compare(a.Address, b.Address) })
	return rep, nil
}

// reconcile compares the state's record att of addr (with its pending upload, if any)
// with what Desk says of the file, f, and returns the drift and the steps that record
// Desk's view.
func reconcile(addr string, att state.Attachment, pending *state.Pending, f *desk.File) ([]Drift, []state.Mutation) {
	drift := func(k Kind, before, after string) Drift {
		return Drift{Address: addr, ID: att.ID, Kind: k, Before: before, After: after}
	}
	switch f.State {
	case "deleted":
		// Dropped, not kept as "deleted": the address is then simply untracked, so
		// plan creates it and apply records the new file as for any create. Only the
		// attachment goes: a pending upload for the address is apply's to clean up, so
		// it is recorded again after the forget that drops both.
		muts := []state.Mutation{{Op: state.OpForget, Address: addr}}
		if pending != nil {
			muts = append(muts, state.Mutation{Op: state.OpSetPending, Address: addr, Pending: pending})
		}
		return []Drift{drift(Deleted, "", "")}, muts
	case "active", "":
	default:
		// Compute plans a create for a record that is not active, with its own reason.
		prev := att.State
		att.State = f.State
		return []Drift{drift(State, prev, f.State)}, []state.Mutation{activate(addr, att)}
	}
	var out []Drift
	if f.Filename != att.Filename {
		out = append(out, drift(Filename, att.Filename, f.Filename))
		att.Filename = f.Filename
	}
	if f.Disposition != att.Disposition {
		out = append(out, drift(Disposition, att.Disposition, f.Disposition))
		att.Disposition = f.Disposition
	}
	if f.Size != att.Size {
		out = append(out, drift(Size, plan.FormatSize(att.Size), plan.FormatSize(f.Size)))
		att.Size = f.Size
		att.Blake3 = UnknownBlake3
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, []state.Mutation{activate(addr, att)}
}

// activate records att, the same Desk file as before, with what Desk says of it. It
// leaves a pending upload of the address alone: activating drops only a pending record
// of the same Desk file, and the state holds one record per Desk file.
func activate(addr string, att state.Attachment) state.Mutation {
	return state.Mutation{Op: state.OpActivate, Address: addr, Attachment: &att}
}

func applyAll(st *state.State, muts []state.Mutation) error {
	for _, m := range muts {
		if err := st.Apply(m); err != nil {
			return err
		}
	}
	return nil
}

// Failure is one tracked file that could not be read.
type Failure struct {
	Address string
	ID      int64
	Err     error
}

// ReadError is a refresh that could not read every tracked file.
type ReadError struct {
	Failures []Failure
}

func (e *ReadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refresh: could not read %d of the tracked files from Desk; nothing was recorded:", len(e.Failures))
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\n  %s (file %d): %v", f.Address, f.ID, f.Err)
	}
	return b.String()
}

// Unwrap returns the causes, so errors.Is(err, context.Canceled) and errors.As for a
// *desk.APIError work.
func (e *ReadError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// Hint is the first cause's own remedy, else a general one.
func (e *ReadError) Hint() string {
	for _, f := range e.Failures {
		if hs := hint.Of(f.Err); len(hs) > 0 {
			return hs[0]
		}
	}
	return "check DESK_URL, DESK_API_KEY and the network, then run again; --debug shows each request"
}
