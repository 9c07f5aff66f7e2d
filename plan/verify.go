package plan

import (
	"fmt"
	"strconv"
	"time"
)

// MismatchError is a saved plan that differs from the plan made now from the same
// manifest, state and options: an edited or forged file, which apply refuses whole.
type MismatchError struct {
	// Address is where the first difference is; Field names it ("action",
	// "before.id", "cleanup deposed 118", …); Saved and Now are both values, "none"
	// where one side has no such change.
	Address, Field, Saved, Now string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("saved plan does not match the plan made now from the manifest and state: %s: %s is %s in the file, %s now",
		strconv.Quote(e.Address), e.Field, e.Saved, e.Now)
}

// Hint says what to do: a plan file is not meant to be edited, so make it again.
func (e *MismatchError) Hint() string {
	return `the plan file was edited, or made from other files; make it again with "desksync plan --out FILE", review it, and apply that`
}

// Verify returns a *MismatchError naming the first difference between the changes and
// cleanups of saved (read from a file) and now (computed just before apply from the
// current manifest and state with saved's options), or nil when they are identical.
// Apply then executes now, so nothing in the file but its options is ever acted on.
// Reasons and content diffs are not compared: reasons are prose made from the fields
// that are, and plan --diff adds its notes to them; both are for reading only.
func Verify(saved, now *Plan) error {
	for i := 0; i < max(len(saved.Changes), len(now.Changes)); i++ {
		var s, n *Change
		if i < len(saved.Changes) {
			s = &saved.Changes[i]
		}
		if i < len(now.Changes) {
			n = &now.Changes[i]
		}
		if s == nil || n == nil || s.Address != n.Address {
			// Name the address that sorts first: the other side has no change there.
			switch {
			case n == nil || s != nil && s.Address < n.Address:
				return &MismatchError{Address: s.Address, Field: "action", Saved: s.Action.String(), Now: "none"}
			default:
				return &MismatchError{Address: n.Address, Field: "action", Saved: "none", Now: n.Action.String()}
			}
		}
		sf, nf := changeFields(*s), changeFields(*n)
		for j := range sf {
			if sf[j].value != nf[j].value {
				return &MismatchError{Address: s.Address, Field: sf[j].name, Saved: sf[j].value, Now: nf[j].value}
			}
		}
	}
	for i := 0; i < max(len(saved.Cleanups), len(now.Cleanups)); i++ {
		switch {
		case i >= len(now.Cleanups):
			c := saved.Cleanups[i]
			return &MismatchError{Address: c.Address, Field: "cleanup", Saved: cleanupName(c), Now: "none"}
		case i >= len(saved.Cleanups):
			c := now.Cleanups[i]
			return &MismatchError{Address: c.Address, Field: "cleanup", Saved: "none", Now: cleanupName(c)}
		}
		s, n := saved.Cleanups[i], now.Cleanups[i]
		sf, nf := cleanupFields(s), cleanupFields(n)
		for j := range sf {
			if sf[j].value != nf[j].value {
				return &MismatchError{Address: s.Address, Field: "cleanup." + sf[j].name, Saved: sf[j].value, Now: nf[j].value}
			}
		}
	}
	return nil
}

type field struct{ name, value string }

// changeFields lists every compared field of c in a fixed order, each value quoted
// so that an empty or hostile string reads unambiguously in the error.
func changeFields(c Change) []field {
	fs := []field{
		{"action", c.Action.String()},
		{"previous_address", strconv.Quote(c.PreviousAddress)},
	}
	fs = append(fs, attrsFields("before", c.Before)...)
	return append(fs, attrsFields("after", c.After)...)
}

func attrsFields(side string, a *Attrs) []field {
	present := field{side, "present"}
	if a == nil {
		a, present.value = &Attrs{}, "null"
	}
	return []field{
		present,
		{side + ".id", strconv.FormatInt(a.ID, 10)},
		{side + ".filename", strconv.Quote(a.Filename)},
		{side + ".mimeType", strconv.Quote(a.MimeType)},
		{side + ".disposition", strconv.Quote(a.Disposition)},
		{side + ".type", strconv.Quote(a.Type)},
		{side + ".size", strconv.FormatInt(a.Size, 10)},
		{side + ".blake3", strconv.Quote(a.Blake3)},
	}
}

func cleanupFields(c Cleanup) []field {
	return []field{
		{"address", strconv.Quote(c.Address)},
		{"kind", string(c.Kind)},
		{"id", strconv.FormatInt(c.ID, 10)},
		{"blake3", strconv.Quote(c.Blake3)},
		{"filename", strconv.Quote(c.Filename)},
		{"size", strconv.FormatInt(c.Size, 10)},
		{"since", c.Since.UTC().Format(time.RFC3339Nano)},
	}
}

func cleanupName(c Cleanup) string { return fmt.Sprintf("%s of Desk file %d", c.Kind, c.ID) }
