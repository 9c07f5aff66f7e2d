package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/desksync/desksync/internal/hint"
)

// DefaultDeletePercent is the share of tracked attachments one apply may delete when
// no --max-delete is given, once DefaultDeleteMinTracked or more are tracked.
const DefaultDeletePercent = 30

// DefaultDeleteMinTracked is how many tracked attachments it takes before the default
// percentage applies; below it, one or two deletes would already be "30%".
const DefaultDeleteMinTracked = 10

// DeleteLimit is the mass-delete guard: how many Delete actions one apply may carry.
//
// With Explicit set (the user gave --max-delete) it is either a percentage of the
// tracked attachments (Percent > 0, e.g. 30 for "30%") or a count (Count, when
// Percent is 0; a count of 0 forbids any delete). Without Explicit, the defaults
// apply: at most Percent (DefaultDeletePercent when 0) once DefaultDeleteMinTracked
// or more are tracked, and no delete at all when the manifest lists no attachments,
// since an emptied or mis-globbed manifest is the classic way to lose everything.
// The zero value is the default guard.
type DeleteLimit struct {
	Count    int
	Percent  float64
	Explicit bool
}

// DefaultDeleteLimit returns the guard used when --max-delete is not given.
func DefaultDeleteLimit() DeleteLimit {
	return DeleteLimit{Percent: DefaultDeletePercent}
}

// String writes l the way --max-delete takes it ("5" or "30%").
func (l DeleteLimit) String() string {
	if l.Percent > 0 || !l.Explicit {
		p := l.Percent
		if p == 0 {
			p = DefaultDeletePercent
		}
		return strconv.FormatFloat(p, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(l.Count)
}

// ParseDeleteLimit reads a --max-delete value: a count ("5") or a percentage of the
// tracked attachments ("30%", "12.5%"). The result is Explicit.
func ParseDeleteLimit(s string) (DeleteLimit, error) {
	v := strings.TrimSpace(s)
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err == nil && !math.IsNaN(f) && f >= 0 && f <= 100 {
			if f == 0 {
				return DeleteLimit{Explicit: true}, nil // 0% is a count of 0
			}
			return DeleteLimit{Percent: f, Explicit: true}, nil
		}
	} else if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return DeleteLimit{Count: n, Explicit: true}, nil
	}
	return DeleteLimit{}, hint.New(
		fmt.Sprintf("invalid --max-delete %q: want a count such as 5 or a percentage from 0%% to 100%% such as 30%%", s),
		"use --max-delete 5 to allow up to five deletes, or --max-delete 30% for up to 30% of the tracked attachments")
}

// MassDeleteError is a plan whose deletes exceed the guard. Apply refuses it before
// making any change; plan shows it as a warning.
type MassDeleteError struct {
	// Deletes is the number of Delete actions in the plan (replaces do not count).
	Deletes int
	// Tracked is how many attachments the state tracked.
	Tracked int
	// Limit is the guard that was exceeded.
	Limit DeleteLimit
	// EmptyManifest is set when the refusal is because the manifest lists nothing
	// (within the plan's --target/--exclude when Partial).
	EmptyManifest, Partial bool
}

func (e *MassDeleteError) Error() string {
	switch {
	case e.EmptyManifest && e.Partial:
		return fmt.Sprintf("the manifest lists no attachments that --target/--exclude select; refusing to delete all %d tracked attachments they select", e.Deletes)
	case e.EmptyManifest:
		return fmt.Sprintf("the manifest lists no attachments; refusing to delete all %d tracked attachments", e.Deletes)
	}
	if !e.Limit.Explicit {
		return fmt.Sprintf("refusing to delete %d of %d tracked attachments: more than the default limit of %s (no --max-delete was given)", e.Deletes, e.Tracked, e.Limit)
	}
	return fmt.Sprintf("refusing to delete %d of %d tracked attachments: more than the limit of %s", e.Deletes, e.Tracked, e.Limit)
}

// Hint names the smallest --max-delete that allows this plan, as a count and as a
// whole percentage.
func (e *MassDeleteError) Hint() string {
	h := fmt.Sprintf("if that is intended, run again with --max-delete %d", e.Deletes)
	if e.Tracked > 0 {
		pct := min(100, (e.Deletes*100+e.Tracked-1)/e.Tracked)
		h += fmt.Sprintf(" (or a percentage, e.g. --max-delete %d%%)", pct)
	}
	return h
}

// CheckDeletes returns a *MassDeleteError when p deletes more than l allows; see
// DeleteLimit for the rules.
func (p *Plan) CheckDeletes(l DeleteLimit) error {
	deletes := p.Summary().Delete
	if deletes == 0 {
		return nil
	}
	refuse := &MassDeleteError{Deletes: deletes, Tracked: p.Tracked, Limit: l, Partial: p.Scope.Partial()}
	if !l.Explicit {
		if l.Percent == 0 {
			refuse.Limit.Percent = DefaultDeletePercent
		}
		if len(p.Files) == 0 {
			refuse.EmptyManifest = true
			return refuse
		}
		if p.Tracked >= DefaultDeleteMinTracked && overPercent(deletes, p.Tracked, refuse.Limit.Percent) {
			return refuse
		}
		return nil
	}
	if l.Percent > 0 {
		if overPercent(deletes, p.Tracked, l.Percent) {
			return refuse
		}
		return nil
	}
	if deletes > l.Count {
		return refuse
	}
	return nil
}

// overPercent reports whether deletes is more than pct percent of tracked.
func overPercent(deletes, tracked int, pct float64) bool {
	return float64(deletes)*100 > pct*float64(tracked)
}
