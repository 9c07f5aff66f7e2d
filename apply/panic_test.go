package apply_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/state"
)

// runPanic runs and returns what Run panicked with, failing the test if it did not.
func runPanic(t *testing.T, run func()) (p *apply.Panic) {
	t.Helper()
	defer func() {
		v := recover()
		if v == nil {
			t.Fatal("Run returned; want it to panic again in the caller's goroutine")
		}
		var ok bool
		if p, ok = v.(*apply.Panic); !ok {
			t.Fatalf("Run panicked with %T %v, want *apply.Panic", v, v)
		}
	}()
	run()
	return nil
}

// panicOnFinish is a renderer with a bug: it panics when an action on address ends.
type panicOnFinish struct {
	address string
}

func (panicOnFinish) Begin(apply.Totals)    {}
func (panicOnFinish) Start(apply.Event)     {}
func (panicOnFinish) Advance(string, int64) {}
func (panicOnFinish) End(*apply.Result)     {}
func (p panicOnFinish) Finish(ev apply.Event, _ error) {
	if ev.Address == p.address {
		panic("test: renderer bug")
	}
}

// TestRunPanicInAction: a panic in an action's goroutine does not end the process
// there (the caller's deferred unlock would never run). Run stops starting actions,
// lets the state's writer finish, compacts the state, and panics again from the
// caller's goroutine with the original value and stack.
func TestRunPanicInAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	m := manyFiles(e, 3)

	p := runPanic(t, func() {
		_, _ = e.run(m, func(o *apply.Options) { o.Parallelism = 1; o.Progress = panicOnFinish{address: "f001.txt"} })
	})
	if p.Where != "an action of f001.txt" || p.Value != "test: renderer bug" {
		t.Errorf("panic in %q with %v", p.Where, p.Value)
	}
	if msg := p.Error(); !strings.Contains(msg, "test: renderer bug") || !strings.Contains(msg, "panic_test.go") {
		t.Errorf("the panic's message lacks its value or the original stack:\n%s", msg)
	}
	// What finished before the panic is saved; nothing started after it.
	saved, err := state.NewFile(e.store.Path()).Load(context.Background())
	if err != nil {
		t.Fatalf("load the saved state: %v", err)
	}
	for _, addr := range []string{"f000.txt", "f001.txt"} {
		if saved.Attachments[addr] == nil {
			t.Errorf("%s finished before the panic but the saved state lacks it", addr)
		}
	}
	if saved.Attachments["f002.txt"] != nil || len(saved.Pending) > 0 {
		t.Errorf("an action started after the panic: %+v, pending %+v", saved.Attachments["f002.txt"], saved.Pending)
	}
}

// panickingStore is the real state file with a bug in its second append.
type panickingStore struct {
	*state.File
	appends atomic.Int64
}

func (s *panickingStore) Append(ctx context.Context, st *state.State, muts []state.Mutation) error {
	if s.appends.Add(1) == 2 {
		panic("test: store bug")
	}
	return s.File.Append(ctx, st, muts)
}

// TestRunPanicInWriter: a panic in the state's writer fails the step it was recording
// (the action waiting for it is not left waiting forever) and Run panics again from the
// caller's goroutine once every action has stopped.
func TestRunPanicInWriter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	m := manyFiles(e, 3)
	store := &panickingStore{File: e.store}

	p := runPanic(t, func() {
		_, _ = e.run(m, func(o *apply.Options) { o.Parallelism = 1; o.Store = store })
	})
	if p.Where != "the state's writer" || p.Value != "test: store bug" {
		t.Errorf("panic in %q with %v", p.Where, p.Value)
	}
	if n := store.appends.Load(); n != 2 {
		t.Errorf("%d appends; after the panicking one nothing more may be appended", n)
	}
}
