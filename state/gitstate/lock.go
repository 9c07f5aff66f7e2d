package gitstate

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/desksync/desksync/state"
)

// lockPoll is how often a waiting Lock tries again; up to half as much again is added at
// random so that waiters do not retry in step.
const lockPoll = 500 * time.Millisecond

// lockBlob is the lock commit's one file.
const lockBlob = "lock.json"

// errNoLock is readLock's answer when REF-lock does not exist.
var errNoLock = errors.New("no lock ref")

// Lock creates REF-lock, pushed with an empty lease so that the server accepts it only
// when no one holds the lock, holding info completed with a random ID, this process's PID,
// user@host and the time. While another run holds it, Lock polls until ctx is done (with a
// done ctx it tries once) and then returns a *state.LockedError naming the holder.
func (s *Store) Lock(ctx context.Context, info state.LockInfo) (string, error) {
	if info.ID == "" {
		info.ID = newID()
	}
	info.PID = os.Getpid()
	if info.Who == "" {
		info.Who = who()
	}
	// A push that reached the server must be seen through, or a lock would be left
	// that nobody knows it holds; ctx only bounds the waiting.
	wctx := context.WithoutCancel(ctx)
	const op = "taking the state lock"
	for {
		info.Created = s.now().UTC()
		data, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return "", err
		}
		blob, err := s.writeBlob(wctx, op, append(data, '\n'))
		if err != nil {
			return "", err
		}
		commit, err := s.commit(wctx, op, []treeEntry{{lockBlob, blob}}, "",
			fmt.Sprintf("desksync lock: %s by %s\n\nid %s\n", info.Operation, info.Who, info.ID))
		if err != nil {
			return "", err
		}
		outcome, _, err := s.push(wctx, commit, s.lockRef, "")
		if outcome == pushed {
			_ = s.updateRef(wctx, op, s.lockKeptLocal, commit)
			return info.ID, nil
		}
		holder, _, rerr := s.readLock(wctx)
		switch {
		case rerr == nil && holder.ID == info.ID:
			return info.ID, nil // a push whose answer was lost
		case outcome == failed:
			return "", err
		case errors.Is(rerr, errNoLock):
			continue // released between our push and the read: try again
		}
		if ctx.Err() != nil {
			return "", s.lockedError(holder, rerr)
		}
		t := time.NewTimer(lockPoll + rand.N(lockPoll/2))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func (s *Store) lockedError(holder *state.LockInfo, err error) error {
	if err != nil {
		return &state.LockedError{Path: s.LockPath(), Err: err}
	}
	age := s.now().Sub(holder.Created)
	return &state.LockedError{Path: s.LockPath(), Info: *holder, Age: max(age, 0), Stale: onThisHost(*holder) && !state.HolderAlive(*holder)}
}

// onThisHost reports whether the lock's holder (user@host) ran on this host, where its
// pid can be checked.
func onThisHost(info state.LockInfo) bool {
	host, err := os.Hostname()
	at := strings.LastIndexByte(info.Who, '@')
	return err == nil && at >= 0 && info.Who[at+1:] == host && info.PID > 0
}

// ReadLock returns the current lock holder, for diagnostics.
func (s *Store) ReadLock(ctx context.Context) (*state.LockInfo, error) {
	info, _, err := s.readLock(ctx)
	return info, err
}

// readLock fetches REF-lock and returns its holder and commit; errNoLock when there is
// no lock.
func (s *Store) readLock(ctx context.Context) (*state.LockInfo, string, error) {
	const op = "reading the state lock"
	commit, err := s.fetch(ctx, op, s.lockRef, s.lockFetched)
	if err != nil {
		return nil, "", err
	}
	if commit == "" {
		return nil, "", errNoLock
	}
	files, err := s.readTree(ctx, op, commit)
	if err != nil {
		return nil, commit, err
	}
	data, ok, err := s.readBlob(ctx, op, files[lockBlob], 64<<10)
	switch {
	case files[lockBlob] == "":
		return nil, commit, fmt.Errorf("the lock commit %s holds no %s", short(commit), lockBlob)
	case err != nil:
		return nil, commit, err
	case !ok:
		return nil, commit, fmt.Errorf("the lock commit's %s is too large", lockBlob)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var info state.LockInfo
	if err := dec.Decode(&info); err != nil {
		return nil, commit, fmt.Errorf("lock does not parse: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if info.ID == "" {
		return nil, commit, errors.New("lock has no id")
	}
	return &info, commit, nil
}

// Unlock deletes REF-lock if it holds id, with a lease on the lock commit read, so that a
// lock someone else took meanwhile stays; a lock with another id is left alone and
// reported as a *state.LockIDError.
func (s *Store) Unlock(id string) error {
	ctx := context.Background()
	info, commit, err := s.readLock(ctx)
	switch {
	case errors.Is(err, errNoLock):
		return fmt.Errorf("unlocking state: %s does not exist, the state is not locked", s.LockPath())
	case err != nil && commit == "":
		return fmt.Errorf("unlocking state: %w", err)
	case err == nil && info.ID != id:
		return &state.LockIDError{Path: s.LockPath(), Want: id, Actual: info.ID}
	case err != nil:
		// A lock that does not parse is removed only by force-unlock with its commit.
		if id != commit && id != short(commit) {
			return fmt.Errorf("unlocking state: %s: %w (force-unlock %s removes it)", s.LockPath(), err, short(commit))
		}
	}
	outcome, reason, err := s.push(ctx, "", s.lockRef, commit)
	switch outcome {
	case rejected:
		return fmt.Errorf("unlocking state: %s changed while it was being released (%s); it was left alone", s.LockPath(), reason)
	case failed:
		return err
	}
	_, _ = s.git(ctx, "forgetting the lock", nil, "update-ref", "-d", s.lockKeptLocal)
	return nil
}

// ForceUnlock removes a lock left by a run that died (desksync force-unlock ID), when its
// ID is id. Unless force is set, a lock whose holder is still running on this host is
// refused with a *state.HolderAliveError, as for a state file.
func (s *Store) ForceUnlock(id string, force bool) error {
	if !force {
		info, _, err := s.readLock(context.Background())
		if err == nil && info.ID == id && onThisHost(*info) && state.HolderAlive(*info) {
			return &state.HolderAliveError{Path: s.LockPath(), Info: *info}
		}
	}
	return s.Unlock(id)
}

// newID returns a random version 4 UUID.
func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
