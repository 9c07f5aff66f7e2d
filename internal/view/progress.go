package view

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/plan"
)

// NewLines returns an apply.Progress that writes one plain line per finished action,
// for logs and pipelines where live bars would be noise:
//
//   - images/logo.png: created (id 123, 14.0 KiB)
//     ! docs/x.pdf: upload to S3: 403 AccessDenied: …
//
// It is safe for concurrent use; each line is written with a single Write. End writes
// nothing: the caller prints ApplySummary, which every format shares.
func NewLines(w io.Writer) apply.Progress {
	return &lineProgress{w: w}
}

type lineProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *lineProgress) Begin(apply.Totals)    {}
func (p *lineProgress) Start(apply.Event)     {}
func (p *lineProgress) Advance(string, int64) {}
func (p *lineProgress) End(*apply.Result)     {}

func (p *lineProgress) Finish(ev apply.Event, err error) {
	line := progressLine(ev, err) + "\n"
	p.mu.Lock()
	defer p.mu.Unlock()
	// A failing writer (closed pipe) must not stop the apply; the state file and
	// ApplySummary still tell what happened.
	_, _ = io.WriteString(p.w, line)
}

// progressLine is the one-line report of a finished action, shared by the plain lines
// and the lines printed above the bars.
func progressLine(ev apply.Event, err error) string {
	// The address came from a manifest or a state, and an error may carry a server's
	// words: the finished line goes through the quoting path as a whole too.
	return quote.Line(progressText(ev, err))
}

func progressText(ev apply.Event, err error) string {
	if err != nil {
		return "! " + progressError(ev.Address, err)
	}
	ev.Address, ev.PreviousAddress = quote.Text(ev.Address), quote.Text(ev.PreviousAddress)
	size := plan.FormatSize(ev.Size)
	switch ev.Action {
	case plan.Create.String():
		return fmt.Sprintf("+ %s: created (id %d, %s)", ev.Address, ev.ID, size)
	case plan.Replace.String():
		if ev.PrevID != 0 {
			return fmt.Sprintf("-/+ %s: new version uploaded (id %d, %s); old id %d to be deleted", ev.Address, ev.ID, size, ev.PrevID)
		}
		return fmt.Sprintf("-/+ %s: new version uploaded (id %d, %s)", ev.Address, ev.ID, size)
	case plan.Update.String():
		return fmt.Sprintf("~ %s: updated (id %d)", ev.Address, ev.ID)
	case plan.Move.String():
		return fmt.Sprintf("-> %s: moved from %s (id %d kept)", ev.Address, ev.PreviousAddress, ev.ID)
	case plan.Delete.String():
		if ev.Kind == apply.KindDeposed {
			return fmt.Sprintf("- %s: old version deleted (id %d)", ev.Address, ev.ID)
		}
		return fmt.Sprintf("- %s: deleted (id %d)", ev.Address, ev.ID)
	case apply.ActionCleanup:
		switch {
		case ev.Kind == apply.KindPending && ev.Adopted:
			return fmt.Sprintf("+ %s: adopted the upload an earlier apply left pending (id %d)", ev.Address, ev.ID)
		case ev.Kind == apply.KindPending:
			return fmt.Sprintf("- %s: removed the temp file an earlier apply left pending (id %d)", ev.Address, ev.ID)
		default:
			return fmt.Sprintf("- %s: deleted the deposed file an earlier apply left (id %d)", ev.Address, ev.ID)
		}
	}
	return fmt.Sprintf("  %s: %s done (id %d)", ev.Address, ev.Action, ev.ID)
}

// errorWithAddress is err's message, led by the address unless it already names it
// (apply's errors do).
func progressError(address string, err error) string {
	msg := err.Error()
	if address == "" || strings.HasPrefix(msg, address+": ") || strings.HasPrefix(msg, quote.Text(address)+": ") {
		return msg
	}
	return quote.Text(address) + ": " + msg
}

// ApplySummary is the closing text of an apply, the same for every progress renderer.
// Its last line is always the counts:
//
//	Apply complete: 3 created, 1 updated, 1 replaced, 1 deleted.
//
// Moves are counted after the four (", 2 moved") when there are any, as the plan's
// summary counts them.
//
// When changes failed or were not started, a list of every one of them, with its
// cause and sorted by address, comes first, so the counts stay the last line a
// pipeline log shows.
func ApplySummary(r *apply.Result) string {
	if r == nil {
		r = &apply.Result{}
	}
	var b strings.Builder
	if r.Err() == nil {
		b.WriteString("Apply complete: ")
	} else {
		b.WriteString("Apply incomplete: ")
	}
	fmt.Fprintf(&b, "%d created, %d updated, %d replaced, %d deleted", r.Created, r.Updated, r.Replaced, r.Deleted)
	if r.Moved > 0 {
		fmt.Fprintf(&b, ", %d moved", r.Moved)
	}
	if n := len(r.Failures); n > 0 {
		fmt.Fprintf(&b, ", %d failed", n)
	}
	if n := len(r.Abandoned); n > 0 {
		fmt.Fprintf(&b, ", %d not finished", n)
	}
	if n := len(r.Skipped); n > 0 {
		fmt.Fprintf(&b, ", %d not started", n)
	}
	if r.Cleaned > 0 {
		fmt.Fprintf(&b, "; %d %s of an earlier apply cleaned up", r.Cleaned, progressPlural(r.Cleaned, "leftover", "leftovers"))
	}
	b.WriteString(".")
	return b.String()
}

func progressPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// CompactFailures returns err with a shorter message when it is apply's
// *apply.FailedError: every failed change keeps its own line with its cause, but the
// changes not started are one line per cause with their count, so that Ctrl-C during
// an apply of 300 changes prints one line, not 300. `desksync plan` shows what is left
// and `apply --format json` lists each in its summary event. The error still unwraps
// to the FailedError and carries its hint. Any other err is returned as it is.
func CompactFailures(err error) error {
	fe, ok := err.(*apply.FailedError)
	if !ok {
		return err
	}
	return &compactFailed{fe}
}

type compactFailed struct{ *apply.FailedError }

func (c *compactFailed) Unwrap() error { return c.FailedError }

func (c *compactFailed) Error() string {
	e := c.FailedError
	changes := progressPlural(e.Total, "change", "changes")
	var b strings.Builder
	if line := e.RefusalLine(); line != "" {
		b.WriteString(line + "\n")
	}
	if n := len(e.Failures); n > 0 {
		fmt.Fprintf(&b, "%d of %d %s failed:\n", n, e.Total, changes)
		for _, f := range e.Failures {
			fmt.Fprintf(&b, "  %v\n", f.Err)
		}
	}
	b.WriteString(e.AbandonedLines())
	skipped := e.Skipped
	if e.Refused != nil {
		skipped = nil // the refusal line counted them, as FailedError.Error does
	}
	// Group by cause, in order of first appearance.
	var causes []string
	count := map[string]int{}
	for _, f := range skipped {
		cause := strings.TrimPrefix(f.Err.Error(), "not started: ")
		if count[cause] == 0 {
			causes = append(causes, cause)
		}
		count[cause]++
	}
	for _, cause := range causes {
		fmt.Fprintf(&b, "%d of %d %s not started: %s (desksync plan shows what is left)\n", count[cause], e.Total, changes, cause)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
