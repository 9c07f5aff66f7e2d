package state

import (
	"errors"
	"fmt"
)

// Op names what a Mutation does.
type Op string

// The mutations a command makes to a state, one per recorded step.
const (
	// OpActivate records Attachment as Address's active Desk file and clears its pending upload.
	OpActivate Op = "activate"
	// OpForget removes Address's attachment and pending upload (no Desk call).
	OpForget Op = "forget"
	// OpSetPending records Address's upload whose ref exists but is not active yet.
	OpSetPending Op = "setPending"
	// OpDropPending forgets Address's pending upload; with ID set, only while it names
	// that Desk file.
	OpDropPending Op = "dropPending"
	// OpDepose records Deposed, an old Desk file to delete.
	OpDepose Op = "depose"
	// OpUndepose removes the deposed record of Desk file ID.
	OpUndepose Op = "undepose"
	// OpMove re-keys the attachment at PreviousAddress to Address, keeping its Desk file;
	// Attachment, when set, is the record at the new address (a move that PATCHed the
	// upload name or disposition). Address must have no attachment yet.
	OpMove Op = "move"
)

// Mutation is one step recorded in a state: what Store.Append makes durable and what a
// journal holds, one per line.
type Mutation struct {
	Op      Op     `json:"op"`
	Address string `json:"address,omitempty"`
	// PreviousAddress is OpMove's old address.
	PreviousAddress string      `json:"previousAddress,omitempty"`
	ID              int64       `json:"id,omitempty"`
	Attachment      *Attachment `json:"attachment,omitempty"`
	Pending         *Pending    `json:"pending,omitempty"`
	Deposed         *Deposed    `json:"deposed,omitempty"`
}

// Apply makes m in s. It refuses a mutation that lacks what its Op needs, so a damaged
// journal line cannot be half-applied.
func (s *State) Apply(m Mutation) error {
	if err := m.check(); err != nil {
		return err
	}
	switch {
	case m.Op == OpActivate && m.Address != "" && m.Attachment != nil:
		s.Activate(m.Address, *m.Attachment)
	case m.Op == OpForget && m.Address != "":
		s.Forget(m.Address)
	case m.Op == OpSetPending && m.Address != "" && m.Pending != nil:
		s.SetPending(m.Address, *m.Pending)
	case m.Op == OpDropPending && m.Address != "":
		s.dropPending(m.Address, m.ID)
	case m.Op == OpDepose && m.Deposed != nil:
		s.Deposed = append(s.Deposed, *m.Deposed)
	case m.Op == OpUndepose && m.ID > 0:
		s.undepose(m.ID)
	case m.Op == OpMove && m.Address != "" && m.PreviousAddress != "" && m.Address != m.PreviousAddress:
		return s.move(m.PreviousAddress, m.Address, m.Attachment)
	default:
		return fmt.Errorf("state: malformed %q mutation", m.Op)
	}
	return nil
}

// check refuses a mutation that carries a record the format does not allow (an id that is
// not positive, a digest that is not 64 lowercase hex digits, …), by the rules of
// State.validate.
func (m Mutation) check() error {
	t := State{Version: Version, Lineage: "-", Attachments: map[string]*Attachment{}}
	if m.Attachment != nil {
		t.Attachments[m.Address] = m.Attachment
	}
	if m.Pending != nil {
		t.Pending = map[string]*Pending{m.Address: m.Pending}
	}
	if m.Deposed != nil {
		t.Deposed = []Deposed{*m.Deposed}
	}
	var ce *CorruptError
	if err := t.validate(); errors.As(err, &ce) {
		return fmt.Errorf("state: malformed %q mutation: %s: %s", m.Op, ce.Field, ce.Msg)
	}
	return nil
}

// move re-keys from's attachment to to, replaced by a when a is not nil. It refuses to
// overwrite an attachment at to, whose Desk file the state would then lose.
func (s *State) move(from, to string, a *Attachment) error {
	cur := s.Attachments[from]
	switch {
	case cur == nil:
		return fmt.Errorf("state: cannot move %q: it has no attachment", from)
	case s.Attachments[to] != nil:
		return fmt.Errorf("state: cannot move %q to %q: %q already has an attachment", from, to, to)
	}
	if a != nil {
		cur = a
	}
	delete(s.Attachments, from)
	c := *cur
	s.Attachments[to] = &c
	return nil
}
