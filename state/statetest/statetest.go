package statetest

import (
	"bytes"
	"context"
	"errors"
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
	s.Depose("docs/guide.pdf", 118, at)
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
		s.DropPending("images/new.png")
	}
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
