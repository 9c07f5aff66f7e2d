// Package hint carries a remedy alongside an error: what the user should do, printed by
// main as "desksync: hint: …" after the error itself.
//
// An error type offers a remedy by implementing [Hinter]; [New] and [Wrap] make one for an
// error that needs no type of its own. [Of] finds every remedy in an error tree.
package hint

import (
	"errors"
	"slices"
)

// Hinter is an error that knows what the user should do about it.
type Hinter interface {
	error
	Hint() string
}

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }
func (h *hinted) Hint() string  { return h.hint }

// New returns an error with message msg and remedy hint.
func New(msg, hint string) error {
	return &hinted{err: errors.New(msg), hint: hint}
}

// Wrap attaches hint to err, keeping err's message and chain; a nil err stays nil.
func Wrap(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: hint}
}

// Of returns the remedies in err's tree, outermost first, each once; wrapped and joined
// errors are searched, and an outer remedy hides the ones beneath it.
func Of(err error) []string {
	var hints []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if h, ok := e.(Hinter); ok && h.Hint() != "" {
			if !slices.Contains(hints, h.Hint()) {
				hints = append(hints, h.Hint())
			}
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return hints
}
