package apply

// Progress receives what Run is doing, for display. Implementations must be safe for
// concurrent use: actions report from their own goroutines. Run calls Begin once, then
// Start, Advance (uploads only) and Finish for each action, then End once. Start comes
// when Desk has answered the action's first request (or when it fails or finishes
// without one), so an action stopped by Desk refusing the API key is never started and
// the refusal is reported once, by Result.Err. Methods should return quickly.
type Progress interface {
	// Begin announces the totals of the run.
	Begin(Totals)
	// Start reports that an action is under way.
	Start(Event)
	// Advance reports that sent bytes of the upload for address have been sent so far
	// in the current attempt. It starts again from zero when an upload is retried.
	Advance(address string, sent int64)
	// Finish reports that an action ended, with err nil on success. The event then
	// carries the Desk file ID the action produced or acted on.
	Finish(Event, error)
	// End reports the final result; renderers print their summary here.
	End(*Result)
}

// Totals are the planned amount of work: at most Actions Start/Finish pairs and Bytes
// to upload. Adopting a pending upload or stopping early means fewer.
type Totals struct {
	Actions int
	Bytes   int64
}

// Event describes one action.
type Event struct {
	Address string
	// Action is a plan.Action's String or ActionCleanup.
	Action string
	// Kind refines Action: KindDeposed for deleting the old half of a replace (Action
	// "delete") or a deposed file left by an earlier apply (Action "cleanup");
	// KindPending for a pending upload left by an earlier apply (Action "cleanup").
	Kind string
	// Size is the number of bytes to upload; zero when the action uploads nothing.
	Size int64
	// ID is the Desk file: the new file of a create or replace (known at Finish), the
	// file updated, deleted or cleaned up.
	ID int64
	// PrevID is, for a replace, the file the new one supersedes.
	PrevID int64
	// PreviousAddress is, for a move, the address the file was tracked at.
	PreviousAddress string
	// Adopted is set at Finish of a pending cleanup when the file turned out to be
	// active with the wanted content and was adopted instead of deleted.
	Adopted bool
}

// noProgress is the Progress used when Options.Progress is nil.
type noProgress struct{}

func (noProgress) Begin(Totals)          {}
func (noProgress) Start(Event)           {}
func (noProgress) Advance(string, int64) {}
func (noProgress) Finish(Event, error)   {}
func (noProgress) End(*Result)           {}
