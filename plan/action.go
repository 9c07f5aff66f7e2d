package plan

// Action is what apply will do to one address. The zero value is NoOp.
type Action int

const (
	NoOp Action = iota
	Create
	Update
	Replace
	Delete
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
	default:
		return " "
	}
}
