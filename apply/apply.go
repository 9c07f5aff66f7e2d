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
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// DefaultParallelism is how many Desk requests (an S3 POST counts as one) apply keeps
// in flight when Options.Parallelism is not set.
const DefaultParallelism = 4

// maxPolicyRefreshes bounds how often one upload asks for a fresh ref after S3 refused
// an expired policy: more would only hide a clock that is badly wrong.
const maxPolicyRefreshes = 2

// Desk's states of a file: temp until activated, active, deleted.
const (
	activeState  = "active"
	deletedState = "deleted"
)

// Desk is the part of the Desk API that apply needs; *desk.Client implements it.
type Desk interface {
	CreateRef(ctx context.Context, req desk.RefRequest) (*desk.Ref, error)
	Upload(ctx context.Context, ref *desk.Ref, body io.ReaderAt, size int64, filename string, progress func(n int64)) error
	UpdateFile(ctx context.Context, id int64, u desk.FileUpdate) (*desk.File, error)
	GetFile(ctx context.Context, id int64) (*desk.File, error)
	DeleteFile(ctx context.Context, id int64) error
}

// Options are the inputs of Run.
type Options struct {
	// Plan is what to do; the caller has checked that it fits State.
	Plan *plan.Plan
	// Manifest supplies the files to upload, opened only through Manifest.Open.
	Manifest *manifest.Manifest
	// State is the loaded state; the caller holds its lock. Run changes it through
	// State.Apply and records every change through Store.
	State *state.State
	Store state.Store
	Desk  Desk
	// Parallelism is how many Desk requests are in flight at once; 0 means
	// DefaultParallelism. With 1, actions run one at a time.
	Parallelism int
	// Progress receives events; nil means none.
	Progress Progress
	// Now is the clock for the state's timestamps; nil means time.Now.
	Now func() time.Time
	// Interrupt is the soft stop: once it is closed no new action starts, while
	// running ones finish and are recorded. Cancelling ctx is the hard stop.
	Interrupt <-chan struct{}
}

// ActionCleanup is the action name, in Event.Action and Failure.Action, of removing
// what an earlier apply left behind; plan has no Action for it because a cleanup is
// not a change to a file the manifest lists. Every other action name is the String
// of its plan.Action, so the progress output and the plan use the same words.
const ActionCleanup = "cleanup"

// Kinds used in Event.Kind: plan's cleanup kinds, also given to the deletion of the old
// half of a replace made in this run (KindDeposed with Action "delete").
const (
	KindPending = string(plan.CleanupPending)
	KindDeposed = string(plan.CleanupDeposed)
)

// Result is what Run did. Counts are of changes that completed; a replace counts once
// both its halves are done.
type Result struct {
	Created  int
	Updated  int
	Replaced int
	Deleted  int
	Moved    int
	// Cleaned counts leftovers of an earlier apply removed from Desk. An adopted
	// pending upload counts as the create or replace it completes instead.
	Cleaned int
	// Total is the number of changes and cleanups the plan asked for.
	Total int
	// Failures lists every change that was started and failed, sorted by address.
	Failures []Failure
	// Skipped lists every change that was never started, sorted by address.
	Skipped []Failure
	// Abandoned lists every change that was started and then cut short by the hard
	// stop (ctx cancelled: a second Ctrl-C), sorted by address. They did not fail:
	// what they did is recorded (an upload as pending) and the next apply finishes them.
	Abandoned []Failure
	// Refused is Desk's refusal of the API key (a *desk.AuthError) that stopped the
	// run, if one did; what it stopped is in Skipped with ErrRefused.
	Refused error
}

// Failure is one change that failed or was not started.
type Failure struct {
	Address string
	// Action is a plan.Action's String or ActionCleanup.
	Action string
	Err    error
}

// Causes recorded in Result.Skipped.
var (
	ErrInterrupted   = errors.New("not started: apply was interrupted")
	ErrStateNotSaved = errors.New("not started: the state could not be saved")
	ErrRefused       = errors.New("not started: Desk refused the API key")
)

// Err returns nil when every planned change completed, and otherwise a *FailedError.
func (r *Result) Err() error {
	if r == nil || (len(r.Failures) == 0 && len(r.Skipped) == 0 && len(r.Abandoned) == 0) {
		return nil
	}
	return &FailedError{Failures: r.Failures, Skipped: r.Skipped, Abandoned: r.Abandoned, Total: r.Total, Refused: r.Refused}
}

// FailedError is Result.Err's account of an apply that did not complete: one line per
// failed or unstarted change, or, after Desk refused the key, one line for all of them.
type FailedError struct {
	Failures  []Failure
	Skipped   []Failure
	Abandoned []Failure
	Total     int
	Refused   error
}

func (e *FailedError) Error() string {
	changes := "changes"
	if e.Total == 1 {
		changes = "change"
	}
	var b strings.Builder
	if e.Refused != nil {
		b.WriteString(e.RefusalLine() + "\n")
	}
	if n := len(e.Failures); n > 0 {
		fmt.Fprintf(&b, "%d of %d %s failed:\n", n, e.Total, changes)
		for _, f := range e.Failures {
			fmt.Fprintf(&b, "  %v\n", f.Err)
		}
	}
	b.WriteString(e.AbandonedLines())
	if n := len(e.Skipped); n > 0 && e.Refused == nil {
		fmt.Fprintf(&b, "%d of %d %s not started:\n", n, e.Total, changes)
		for _, f := range e.Skipped {
			fmt.Fprintf(&b, "  %s (%s): %v\n", quote.Text(f.Address), f.Action, f.Err)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// AbandonedLines tells of the changes cut short by the hard stop, one line each
// after a heading, each line ending in a newline; "" when there are none.
func (e *FailedError) AbandonedLines() string {
	n := len(e.Abandoned)
	if n == 0 {
		return ""
	}
	changes := "changes"
	if e.Total == 1 {
		changes = "change"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %s not finished: abandoned when apply was stopped (the next apply finishes them):\n", n, e.Total, changes)
	for _, f := range e.Abandoned {
		fmt.Fprintf(&b, "  %s (%s)\n", f.Address, f.Action)
	}
	return b.String()
}

// RefusalLine is the one line that tells of Desk refusing the API key, with Desk's
// answer and how many changes it stopped; "" when it did not. Once it is said, the
// changes not started need no line of their own: the refusal is their one cause.
func (e *FailedError) RefusalLine() string {
	if e.Refused == nil {
		return ""
	}
	changes := "changes"
	if e.Total == 1 {
		changes = "change"
	}
	// The action that recorded the refusal may have been stopped by the client's latch
	// rather than by Desk itself; either way, quote Desk's own answer.
	answer := desk.Cause(e.Refused)
	var auth *desk.AuthError
	if errors.As(e.Refused, &auth) && auth.Err != nil {
		answer = auth.Err.Cause()
	}
	return fmt.Sprintf("Desk refused the API key (%s): apply stopped; %d of %d %s not started", answer, len(e.Skipped), e.Total, changes)
}

// Hint gives the remedy of each kind of failure once, then how to finish.
func (e *FailedError) Hint() string {
	lines := hint.Of(e.Refused)
	for _, f := range e.Failures {
		for _, h := range hint.Of(f.Err) {
			if !slices.Contains(lines, h) {
				lines = append(lines, h)
			}
		}
	}
	lines = append(lines, "the state records everything that finished; fix the causes above and run desksync apply again")
	return strings.Join(lines, "\n")
}

// ActionError is the failure of one step of one action.
type ActionError struct {
	Address string
	// Step is what was being done, e.g. "create ref", "upload to S3", "delete file 12".
	Step string
	Err  error
}

func (e *ActionError) Error() string {
	return quote.Text(e.Address) + ": " + e.Step + ": " + desk.Cause(e.Err)
}

func (e *ActionError) Unwrap() error { return e.Err }

// Hint passes on the remedy of the cause.
func (e *ActionError) Hint() string {
	if hs := hint.Of(e.Err); len(hs) > 0 {
		return hs[0]
	}
	return ""
}

// SaveError is a state write that failed: Desk may then hold what the state file does
// not record, and no further action was started.
type SaveError struct {
	// Address is the action whose step could not be recorded; empty for the final
	// compaction.
	Address string
	Err     error
}

func (e *SaveError) Error() string {
	if e.Address == "" {
		return "save state: " + e.Err.Error()
	}
	return "save state after " + e.Address + ": " + e.Err.Error()
}

func (e *SaveError) Unwrap() error { return e.Err }

// Hint says how to recover from a state that could not be written.
func (e *SaveError) Hint() string {
	return "fix the cause (disk full? permissions?), then run desksync apply again; files uploaded since the last save may need desksync import or removal in Desk"
}

// FileChangedError says a local file no longer matches the plan.
type FileChangedError struct {
	Address string
	Detail  string
}

func (e *FileChangedError) Error() string {
	return "the file changed since the plan was made: " + e.Detail
}

// Hint tells the user to plan again.
func (e *FileChangedError) Hint() string {
	return "run desksync plan again (or apply without a plan file) so that the plan matches the files"
}

// DeleteMismatchError is a DELETE refused because the Desk file is not the one the state
// records (SECURITY.md): another filename or size, or a record too old to say.
type DeleteMismatchError struct {
	Address string
	ID      int64
	// Record is what the state says the file is ("pending", "deposed" or "attachment").
	Record   string
	Filename string
	Size     int64
	// DeskFilename and DeskSize are what Desk answered.
	DeskFilename string
	DeskSize     int64
}

func (e *DeleteMismatchError) Error() string {
	if e.Filename == "" {
		return fmt.Sprintf("refusing to delete Desk file %d: its %s record has no filename to check it against (an older state, or an update cut short); Desk has %q (%d bytes)",
			e.ID, e.Record, e.DeskFilename, e.DeskSize)
	}
	return fmt.Sprintf("refusing to delete Desk file %d: the state's %s record says %q (%d bytes), Desk has %q (%d bytes)",
		e.ID, e.Record, e.Filename, e.Size, e.DeskFilename, e.DeskSize)
}

// Hint says how to settle which is right.
func (e *DeleteMismatchError) Hint() string {
	if e.Record == "attachment" {
		return fmt.Sprintf("check Desk file %d; if the state is wrong, desksync refresh records what Desk has, or desksync state rm %s forgets the record without deleting anything", e.ID, quote.Shell(e.Address))
	}
	return fmt.Sprintf("check Desk file %d; if it is a leftover of %s, delete it in Desk, then remove its entry from %q in the state file", e.ID, quote.Text(e.Address), e.Record)
}
