package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// DefaultParallelism is how many Desk requests (an S3 POST counts as one) apply keeps
// in flight when Options.Parallelism is not set.
const DefaultParallelism = 4

// DefaultCommitDelay is Options.CommitDelay's default. On loopback, 1,000 files of
// 4 KiB at parallelism 4 took 0.30 to 0.40 saves per file without waiting and 0.15
// with 2 ms, and a tenth less time (median of 8 runs each, 0.94 s against 1.05 s);
// 5 ms made fewer saves (0.10) but was no faster. Over a real network, where a
// request takes tens of milliseconds, an action pays at most 2 ms per save for it,
// while other actions use its turn.
const DefaultCommitDelay = 2 * time.Millisecond

// maxPolicyRefreshes bounds how often one upload asks for a fresh ref after S3 refused
// an expired policy. Two is enough for a slow disk or link; more would only hide a
// clock that is badly wrong, which the final error then names.
const maxPolicyRefreshes = 2

// Desk is the part of the Desk API that apply needs. *desk.Client implements it; it is
// declared here, by its consumer, so that apply depends on five methods rather than on
// the whole client.
type Desk interface {
	CreateRef(ctx context.Context, req desk.RefRequest) (*desk.Ref, error)
	Upload(ctx context.Context, ref *desk.Ref, body io.ReaderAt, size int64, filename string, progress func(n int64)) error
	UpdateFile(ctx context.Context, id int64, u desk.FileUpdate) (*desk.File, error)
	GetFile(ctx context.Context, id int64) (*desk.File, error)
	DeleteFile(ctx context.Context, id int64) error
}

// Options are the inputs of Run.
type Options struct {
	// Plan is what to do; it must have been computed from State (or checked not to be
	// stale against it) by the caller.
	Plan *plan.Plan
	// Manifest supplies the entries whose files are uploaded; files are opened only
	// through Manifest.Open so that containment holds.
	Manifest *manifest.Manifest
	// State is the loaded state. The caller holds the state lock for the whole run.
	// Run mutates it in place and saves it through Store after every finished action.
	State *state.State
	// Store saves State.
	Store state.Store
	// Desk performs the requests.
	Desk Desk
	// Parallelism is how many Desk requests (an S3 POST counts as one) are in flight
	// at once; 0 means DefaultParallelism. Actions waiting for a state save give up
	// their turn, so up to 8×Parallelism actions may be under way; 1 is strictly one
	// action at a time.
	Parallelism int
	// CommitDelay is how long a state save may wait for the requests in flight to
	// finish, so that it records their results too (see runner.commit); 0 means
	// DefaultCommitDelay, a negative value no waiting. A save never waits when no other
	// request is in flight, so --parallelism 1 is never slowed.
	CommitDelay time.Duration
	// Progress receives events; nil means none.
	Progress Progress
	// Now is the clock for the state's timestamps; nil means time.Now.
	Now func() time.Time
	// Interrupt is the soft stop: once it is closed (or receives a value) no new action
	// starts, while running ones finish and are recorded. Cancelling ctx is the hard
	// stop: running requests are abandoned.
	Interrupt <-chan struct{}
}

// Action names used in Event.Action and Failure.Action.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionReplace = "replace"
	ActionDelete  = "delete"
	ActionCleanup = "cleanup"
)

// Kinds used in Event.Kind.
const (
	// KindPending marks a cleanup of an upload an earlier apply left pending.
	KindPending = "pending"
	// KindDeposed marks the deletion of a deposed file: the old half of a replace,
	// from this apply (Action "delete") or an earlier one (Action "cleanup").
	KindDeposed = "deposed"
)

// Result is what Run did. Counts are of changes that completed; a replace counts once
// both its halves are done.
type Result struct {
	Created  int
	Updated  int
	Replaced int
	Deleted  int
	// Cleaned counts leftovers of an earlier apply removed from Desk (pending temp
	// files and deposed files). A pending upload that was adopted counts as the create
	// or replace it completes instead.
	Cleaned int
	// Total is the number of changes and cleanups the plan asked for.
	Total int
	// Failures lists every change that was started and failed, sorted by address.
	Failures []Failure
	// Skipped lists every change that was never started, sorted by address: after a
	// soft interrupt (Err is ErrInterrupted), a cancelled context, or a failed state
	// save (Err is ErrStateNotSaved).
	Skipped []Failure
}

// Failure is one change that failed or was not started.
type Failure struct {
	Address string
	// Action is one of the Action* names.
	Action string
	Err    error
}

// ErrInterrupted is the cause recorded in Result.Skipped for changes not started after a
// soft interrupt.
var ErrInterrupted = errors.New("not started: apply was interrupted")

// ErrStateNotSaved is the cause recorded in Result.Skipped for changes not started after
// a state save failed.
var ErrStateNotSaved = errors.New("not started: the state could not be saved")

// Err returns nil when every planned change completed, and otherwise a *FailedError
// listing what failed or was not started; main prints it to stderr and exits 1.
func (r *Result) Err() error {
	if r == nil || (len(r.Failures) == 0 && len(r.Skipped) == 0) {
		return nil
	}
	return &FailedError{Failures: r.Failures, Skipped: r.Skipped, Total: r.Total}
}

// FailedError is Result.Err's account of an apply that did not complete: one line per
// failed or unstarted change, with its cause.
type FailedError struct {
	Failures []Failure
	Skipped  []Failure
	Total    int
}

func (e *FailedError) Error() string {
	changes := "changes"
	if e.Total == 1 {
		changes = "change"
	}
	var b strings.Builder
	if n := len(e.Failures); n > 0 {
		fmt.Fprintf(&b, "%d of %d %s failed:\n", n, e.Total, changes)
		for _, f := range e.Failures {
			fmt.Fprintf(&b, "  %v\n", f.Err)
		}
	}
	if n := len(e.Skipped); n > 0 {
		fmt.Fprintf(&b, "%d of %d %s not started:\n", n, e.Total, changes)
		for _, f := range e.Skipped {
			fmt.Fprintf(&b, "  %s (%s): %v\n", f.Address, f.Action, f.Err)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Hint tells the user what to do about an incomplete apply: the remedy of each kind of
// failure (once, in the order of the failures), then how to finish.
func (e *FailedError) Hint() string {
	var lines []string
	for _, f := range e.Failures {
		var h interface{ Hint() string }
		if errors.As(f.Err, &h) {
			if s := h.Hint(); s != "" && !slices.Contains(lines, s) {
				lines = append(lines, s)
			}
		}
	}
	lines = append(lines, "the state records everything that finished; fix the causes above and run desksync apply again")
	return strings.Join(lines, "\n")
}

// ActionError is the error of one failed action: which address, which step, and the
// underlying cause (usually a *desk.APIError with the HTTP status and Desk's message).
type ActionError struct {
	Address string
	// Step is what was being done: "open file", "create ref", "record pending",
	// "upload to S3", "activate", "update", "delete", "check pending upload", ...
	Step string
	Err  error
}

func (e *ActionError) Error() string {
	// A Desk error names its request ("desk: create ref for "a.png": 500 …"), which
	// Address and Step already say; only a bare one is shortened, so that what
	// wraps it keeps its words.
	if c, ok := e.Err.(interface{ Cause() string }); ok {
		return e.Address + ": " + e.Step + ": " + c.Cause()
	}
	return e.Address + ": " + e.Step + ": " + e.Err.Error()
}

func (e *ActionError) Unwrap() error { return e.Err }

// Hint passes on the remedy of the cause when it has one.
func (e *ActionError) Hint() string {
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	return ""
}

// SaveError is returned by Run when the state could not be saved after an action: Desk
// may then hold a file the state file does not record, and no further action was
// started.
type SaveError struct {
	Address string
	Err     error
}

func (e *SaveError) Error() string {
	return "save state after " + e.Address + ": " + e.Err.Error()
}

func (e *SaveError) Unwrap() error { return e.Err }

// Hint says how to recover from a state that could not be written.
func (e *SaveError) Hint() string {
	return "fix the cause (disk full? permissions?), then run desksync apply again; files uploaded since the last save may need desksync import or removal in Desk"
}
