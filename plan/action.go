package plan

import "fmt"

// Action is what apply will do to one address. The zero value is NoOp.
type Action int

const (
	NoOp Action = iota
	Create
	Update
	Replace
	Delete
	// Move keeps a gone address's Desk file for a new address with the same content.
	Move
)

// String returns the action's word as used in JSON plans and summaries.
func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Replace:
		return "replace"
	case Delete:
		return "delete"
	case Move:
		return "move"
	default:
		return "no-op"
	}
}

// Symbol returns the Terraform-style marker shown in text plans.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Replace:
		return "-/+"
	case Delete:
		return "-"
	case Move:
		return "->"
	default:
		return " "
	}
}

// MarshalText writes the action as its word: a number would silently change meaning
// if the constants were ever reordered.
func (a Action) MarshalText() ([]byte, error) {
	switch a {
	case NoOp, Create, Update, Replace, Delete, Move:
		return []byte(a.String()), nil
	}
	return nil, fmt.Errorf("unknown plan action %d", int(a))
}

// UnmarshalText reads an action word written by MarshalText; any other word is an
// error, so a hand-edited or corrupted plan file cannot smuggle in an unknown action.
func (a *Action) UnmarshalText(b []byte) error {
	for _, c := range []Action{NoOp, Create, Update, Replace, Delete, Move} {
		if string(b) == c.String() {
			*a = c
			return nil
		}
	}
	return fmt.Errorf("unknown plan action %q (want create, update, replace, delete, move or no-op)", b)
}
