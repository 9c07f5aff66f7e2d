package statetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/desksync/desksync/state"
)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Run runs the conformance test against stores made by newStore; each call must return a
// fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) state.Store) {
	t.Run("LoadEmpty", func(t *testing.T) {
		_, err := newStore(t).Load(context.Background())
		if !errors.Is(err, state.ErrNotExist) {
			t.Errorf("Load of an empty store = %v, want state.ErrNotExist", err)
		}
	})
	t.Run("SaveLoad", func(t *testing.T) { testSaveLoad(t, newStore(t)) })
	t.Run("AppendLoad", func(t *testing.T) { testAppendLoad(t, newStore(t)) })
	t.Run("AppendFirst", func(t *testing.T) { testAppendFirst(t, newStore(t)) })
	t.Run("AppendMany", func(t *testing.T) { testAppendMany(t, newStore(t)) })
	t.Run("CompactKeepsSerial", func(t *testing.T) { testCompact(t, newStore(t)) })
	t.Run("SaveAfterAppend", func(t *testing.T) { testSaveAfterAppend(t, newStore(t)) })
	t.Run("LockHeld", func(t *testing.T) { testLockHeld(t, newStore(t)) })
	t.Run("LockWaits", func(t *testing.T) { testLockWaits(t, newStore(t)) })
	t.Run("LockExclusive", func(t *testing.T) { testLockExclusive(t, newStore(t)) })
}

func testSaveLoad(t *testing.T, st state.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := state.New("https://example.teamwork.com")
	s.Activate("images/logo.png", state.Attachment{ID: 123, Filename: "logo.png", MimeType: "image/png",
		Disposition: "attachment", Type: "attachment", Size: 14358, Blake3: hash, State: "active", UploadedAt: at})
	s.SetPending("images/new.png", state.Pending{ID: 130, Blake3: hash, StartedAt: at})
	if err := s.Apply(state.Mutation{Op: state.OpDepose, Deposed: &state.Deposed{Address: "docs/guide.pdf", ID: 118, Filename: "guide.pdf", Size: 9, Since: at}}); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		if err := st.Save(ctx, s); err != nil {
			t.Fatalf("Save #%d: %v", want, err)
		}
		if s.Serial != want {
			t.Errorf("serial after save #%d = %d", want, s.Serial)
		}
		got, err := st.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got.Serial != want {
			t.Errorf("loaded serial %d, want %d", got.Serial, want)
		}
		a, _ := s.Encode()
		b, err := got.Encode()
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("Load returned\n%s\nafter saving\n%s (%v)", b, a, err)
		}
		if err := s.Apply(state.Mutation{Op: state.OpDropPending, Address: "images/new.png"}); err != nil {
			t.Fatal(err)
		}
	}
}

// record is the attachment the journal tests give address n.
func record(n int) *state.Attachment {
	return &state.Attachment{ID: int64(1000 + n), Filename: fmt.Sprintf("f%d.bin", n), MimeType: "application/octet-stream",
		Disposition: "attachment", Type: "attachment", Size: int64(n), Blake3: hash, State: "active",
		UploadedAt: time.Date(2026, 11, 26, 10, 0, n%60, 0, time.UTC)}
}

// upload is the two steps apply records for one new file: its pending ref, then its
// activation.
func upload(n int) [][]state.Mutation {
	addr := fmt.Sprintf("files/f%04d.bin", n)
	p := &state.Pending{ID: int64(1000 + n), Blake3: hash, Filename: fmt.Sprintf("f%d.bin", n), Size: int64(n),
		StartedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	return [][]state.Mutation{
		{{Op: state.OpSetPending, Address: addr, Pending: p}},
		{{Op: state.OpActivate, Address: addr, Attachment: record(n)}},
	}
}

// appendAll applies each batch to s and appends it, failing the test on an error.
func appendAll(t *testing.T, st state.Store, s *state.State, batches ...[]state.Mutation) {
	t.Helper()
	for _, b := range batches {
		for _, m := range b {
			if err := s.Apply(m); err != nil {
				t.Fatalf("Apply(%+v): %v", m, err)
			}
		}
		before := s.Serial
		if err := st.Append(context.Background(), s, b); err != nil {
			t.Fatalf("Append: %v", err)
		}
		if s.Serial != before+int64(len(b)) {
			t.Fatalf("Append of %d mutations took the serial from %d to %d", len(b), before, s.Serial)
		}
	}
}

// sameState fails the test unless the store loads s, serial included.
func sameState(t *testing.T, st state.Store, s *state.State) {
	t.Helper()
	got, err := st.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	have, err := got.Encode()
	if err != nil || !bytes.Equal(have, want) {
		t.Fatalf("Load returned\n%s\nwant\n%s (%v)", have, want, err)
	}
}

func testAppendLoad(t *testing.T, st state.Store) {
	ctx := context.Background()
	s := state.New("https://example.teamwork.com")
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	appendAll(t, st, s, upload(1)...)
	sameState(t, st, s)
	appendAll(t, st, s, upload(2)...)
	// A replace: the old file deposed and the new one active in one batch.
	old := s.Attachments["files/f0001.bin"]
	repl := record(3)
	appendAll(t, st, s, []state.Mutation{
		{Op: state.OpDepose, Deposed: &state.Deposed{Address: "files/f0001.bin", ID: old.ID, Filename: old.Filename, Size: old.Size, Since: old.UploadedAt}},
		{Op: state.OpActivate, Address: "files/f0001.bin", Attachment: repl},
	}, []state.Mutation{
		{Op: state.OpUndepose, ID: old.ID},
		{Op: state.OpMove, PreviousAddress: "files/f0002.bin", Address: "moved/f0002.bin"},
		{Op: state.OpForget, Address: "files/f0001.bin"},
	})
	if s.Serial != 10 {
		t.Errorf("serial after a save and 9 mutations = %d, want 10", s.Serial)
	}
	sameState(t, st, s)
	// Loading again replays nothing twice.
	sameState(t, st, s)
	if err := st.Compact(ctx, s); err != nil {
		t.Fatal(err)
	}
	sameState(t, st, s)
}

// An Append with nothing saved yet stores the whole state.
func testAppendFirst(t *testing.T, st state.Store) {
	s := state.New("https://example.teamwork.com")
	appendAll(t, st, s, upload(1)...)
	sameState(t, st, s)
	if err := st.Append(context.Background(), s, nil); err != nil || s.Serial != 2 {
		t.Errorf("empty Append = %v, serial %d, want nil and 2", err, s.Serial)
	}
	sameState(t, st, s)
}

// Far more steps than the state holds: whatever the store does to keep its journal short
// happens in between, and every step survives it.
func testAppendMany(t *testing.T, st state.Store) {
	s := state.New("https://example.teamwork.com")
	if err := st.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	for n := range 120 {
		appendAll(t, st, s, upload(n)...)
		if n%17 == 0 {
			sameState(t, st, s)
		}
	}
	if s.Serial != 241 {
		t.Errorf("serial = %d, want 241", s.Serial)
	}
	sameState(t, st, s)
	if err := st.Compact(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	sameState(t, st, s)
}

func testCompact(t *testing.T, st state.Store) {
	ctx := context.Background()
	s := state.New("https://example.teamwork.com")
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	appendAll(t, st, s, upload(1)...)
	for range 2 {
		if err := st.Compact(ctx, s); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		if s.Serial != 3 {
			t.Errorf("Compact changed the serial to %d, want 3", s.Serial)
		}
		sameState(t, st, s)
	}
	appendAll(t, st, s, upload(2)...)
	sameState(t, st, s)
}

func testSaveAfterAppend(t *testing.T, st state.Store) {
	ctx := context.Background()
	s := state.New("https://example.teamwork.com")
	appendAll(t, st, s, upload(1)...)
	appendAll(t, st, s, upload(2)...)
	if err := s.Apply(state.Mutation{Op: state.OpForget, Address: "files/f0001.bin"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 5 {
		t.Errorf("serial after 4 appended mutations and a save = %d, want 5", s.Serial)
	}
	sameState(t, st, s)
	appendAll(t, st, s, upload(3)...)
	sameState(t, st, s)
}

func testLockHeld(t *testing.T, st state.Store) {
	id, err := st.Lock(context.Background(), state.LockInfo{Operation: "apply", Who: "ci@runner-7"})
	if err != nil || id == "" {
		t.Fatalf("Lock = %q, %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err = st.Lock(ctx, state.LockInfo{Operation: "refresh"})
	if took := time.Since(start); took > time.Second {
		t.Errorf("Lock with a done context took %v, want at once", took)
	}
	var le *state.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock = %v, want *state.LockedError", err)
	}
	if le.Info.ID != id || le.Info.Operation != "apply" || le.Info.Who != "ci@runner-7" {
		t.Errorf("LockedError names %+v, want the holder %s (apply, ci@runner-7)", le.Info, id)
	}
	if err := st.Unlock("not-" + id); err == nil {
		t.Errorf("Unlock with a wrong id succeeded")
	}
	if err := st.Unlock(id); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	id2, err := st.Lock(ctx, state.LockInfo{Operation: "refresh"})
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	if err := st.Unlock(id2); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

func testLockWaits(t *testing.T, st state.Store) {
	id, err := st.Lock(context.Background(), state.LockInfo{Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(250 * time.Millisecond)
		if err := st.Unlock(id); err != nil {
			t.Errorf("Unlock: %v", err)
		}
		close(released)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id2, err := st.Lock(ctx, state.LockInfo{Operation: "refresh"})
	if err != nil {
		t.Fatalf("waiting Lock = %v", err)
	}
	select {
	case <-released:
	default:
		t.Errorf("Lock succeeded before the holder released it")
	}
	if err := st.Unlock(id2); err != nil {
		t.Fatal(err)
	}
}

func testLockExclusive(t *testing.T, st state.Store) {
	const workers, rounds = 8, 4
	var inside, maxInside, entered atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				id, err := st.Lock(ctx, state.LockInfo{Operation: "apply"})
				cancel()
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				n := inside.Add(1)
				for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
				}
				entered.Add(1)
				time.Sleep(2 * time.Millisecond)
				inside.Add(-1)
				if err := st.Unlock(id); err != nil {
					t.Errorf("Unlock: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Errorf("%d goroutines held the lock at once", maxInside.Load())
	}
	if entered.Load() != workers*rounds {
		t.Errorf("lock taken %d times, want %d", entered.Load(), workers*rounds)
	}
}
