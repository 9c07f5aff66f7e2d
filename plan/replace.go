package plan

import (
	"fmt"
	"slices"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

// ReplaceReason is the reason a replace asked for with --replace gives, in every
// format, so a reviewer sees that no hash asked for it.
const ReplaceReason = "replace requested with --replace: the file is uploaded again and gets a new Desk ID"

// NewReplace checks and normalises the --replace addresses as NewScope does its
// patterns, sorted and without repeats. Each must be an address, not a glob: a
// forced re-upload is meant for one file a person has in mind.
func NewReplace(addrs []string) ([]string, error) {
	var out []string
	for _, a := range addrs {
		n, err := normalisePattern(a)
		if err == nil && n == "**" {
			err = fmt.Errorf("names no file")
		}
		if err != nil {
			return nil, hint.New(fmt.Sprintf("--replace %q: %v", a, err), "give the address of one tracked file, such as images/logo.png")
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ReplaceError is a --replace address that cannot be replaced: not tracked, not in
// the manifest, or outside the plan's scope.
type ReplaceError struct {
	Address string
	// Why says which, e.g. "is not tracked in the state".
	Why string
	// Nearest is the tracked address closest to Address, when one is close.
	Nearest string
	hint    string
}

func (e *ReplaceError) Error() string {
	return fmt.Sprintf("--replace %s: the address %s", QuoteArg(e.Address), e.Why)
}

// Hint says what to do instead.
func (e *ReplaceError) Hint() string {
	h := e.hint
	if e.Nearest != "" {
		h = fmt.Sprintf("did you mean --replace %s? %s", QuoteArg(e.Nearest), h)
	}
	return h
}

// checkReplace refuses a --replace address that Compute could not turn into a
// replace, so that a forced re-upload never silently does nothing.
func checkReplace(addrs []string, m *manifest.Manifest, st *state.State, scope Scope) error {
	if len(addrs) == 0 {
		return nil
	}
	listed := map[string]bool{}
	for _, e := range m.Entries {
		listed[e.Address] = true
	}
	var tracked []string
	if st != nil {
		for a, att := range st.Attachments {
			if att != nil {
				tracked = append(tracked, a)
			}
		}
	}
	for _, a := range addrs {
		var att *state.Attachment
		if st != nil {
			att = st.Attachments[a]
		}
		switch {
		case att == nil && listed[a]:
			return &ReplaceError{Address: a, Why: "is not tracked in the state, so it is uploaded as a new file anyway",
				hint: "leave out --replace; desksync plan shows it as a create"}
		case att == nil:
			return &ReplaceError{Address: a, Why: "is neither tracked in the state nor listed in the manifest", Nearest: nearest(a, tracked),
				hint: `"desksync state list" shows the tracked addresses`}
		case !listed[a]:
			return &ReplaceError{Address: a, Why: "is no longer listed in the manifest, so it would be deleted, not replaced",
				hint: "add it to the manifest again, or leave out --replace"}
		case !scope.Match(a):
			return &ReplaceError{Address: a, Why: "is outside the plan's " + scope.String(),
				hint: "add a --target that selects it, or leave out --replace"}
		}
	}
	return nil
}

// forceReplace turns the change Compute found for a tracked address (none, or an
// update) into a replace asked for with --replace.
func forceReplace(addr string, before *Attrs, after Attrs, c Change, found bool) Change {
	a := after
	a.ID = 0 // a new upload, as every replace is
	reasons := []string{ReplaceReason}
	if found {
		reasons = append(reasons, c.Reasons...)
	}
	return Change{Address: addr, Action: Replace, Before: before, After: &a, Reasons: reasons}
}
