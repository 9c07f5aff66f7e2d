// Package statetest is the conformance test every state.Store must pass: run it from the
// implementation's tests with statetest.Run(t, func(t *testing.T) state.Store { … }).
//
// It checks what apply relies on through the Store interface alone: Load of an empty store
// reports state.ErrNotExist, Save bumps the serial and Load returns what was saved, Append
// makes each mutation durable with one serial step and Load replays it, Compact keeps the
// serial and leaves what Load returns unchanged, a Save after Appends supersedes them, a
// held lock is refused with a *state.LockedError naming its holder, a waiting Lock gets the
// lock once it is released, Unlock checks the id, and Lock is exclusive across goroutines.
package statetest
