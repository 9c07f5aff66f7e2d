package state

import "fmt"

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
	// OpDropPending forgets Address's pending upload.
	OpDropPending Op = "dropPending"
	// OpDepose records Deposed, an old Desk file to delete.
	OpDepose Op = "depose"
	// OpUndepose removes the deposed record of Desk file ID.
	OpUndepose Op = "undepose"
)

// Mutation is one step recorded in a state: what Store.Append makes durable and what a
// journal holds, one per line.
type Mutation struct {
	Op         Op          `json:"op"`
	Address    string      `json:"address,omitempty"`
	ID         int64       `json:"id,omitempty"`
	Attachment *Attachment `json:"attachment,omitempty"`
	Pending    *Pending    `json:"pending,omitempty"`
	Deposed    *Deposed    `json:"deposed,omitempty"`
}

// Apply makes m in s. It refuses a mutation that lacks what its Op needs, so a damaged
// journal line cannot be half-applied.
func (s *State) Apply(m Mutation) error {
	switch {
	case m.Op == OpActivate && m.Address != "" && m.Attachment != nil:
		s.Activate(m.Address, *m.Attachment)
	case m.Op == OpForget && m.Address != "":
		s.Forget(m.Address)
	case m.Op == OpSetPending && m.Address != "" && m.Pending != nil:
		s.SetPending(m.Address, *m.Pending)
	case m.Op == OpDropPending && m.Address != "":
		s.DropPending(m.Address)
	case m.Op == OpDepose && m.Deposed != nil:
		s.Deposed = append(s.Deposed, *m.Deposed)
	case m.Op == OpUndepose && m.ID > 0:
		s.Undepose(m.ID)
	default:
		return fmt.Errorf("state: malformed %q mutation", m.Op)
	}
	return nil
}
