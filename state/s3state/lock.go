package s3state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/desksync/desksync/state"
)

// lockPoll is how often a waiting Lock tries again; up to half as much again is added at
// random so that waiters do not retry in step.
const lockPoll = 500 * time.Millisecond

func (s *Store) lockKey() string { return s.key + ".lock" }

// LockPath returns the lock object's location, s3://BUCKET/KEY.lock.
func (s *Store) LockPath() string { return s.url + ".lock" }

// Lock creates KEY.lock with If-None-Match: *, holding info completed with a random ID,
// this process's PID, user@host and the time. While another run holds it, Lock polls until
// ctx is done (with a done ctx it tries once) and then returns a *state.LockedError naming
// the holder.
func (s *Store) Lock(ctx context.Context, info state.LockInfo) (string, error) {
	if info.ID == "" {
		info.ID = newID()
	}
	info.PID = os.Getpid()
	if info.Who == "" {
		info.Who = who()
	}
	s.mu.Lock()
	err := s.ready(context.WithoutCancel(ctx), "taking the state lock")
	if err == nil {
		err = s.probe(context.WithoutCancel(ctx))
	}
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	key := s.lockKey()
	for {
		info.Created = s.now().UTC()
		data, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return "", err
		}
		data = append(data, '\n')
		// The request itself must not be cut short by a lock timeout: a create that
		// reached the store would leave a lock nobody knows it holds.
		_, err = s.client.PutObject(context.WithoutCancel(ctx), &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
			Body: bytes.NewReader(data), ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*")})
		if err == nil {
			return info.ID, nil
		}
		if !isPrecondition(err) {
			return "", s.describe("taking the state lock", err)
		}
		holder, rerr := s.readLock(context.WithoutCancel(ctx))
		if rerr == nil && holder.ID == info.ID {
			return info.ID, nil // a retried create whose first attempt got through
		}
		if ctx.Err() != nil {
			if rerr != nil && isNotFound(rerr) {
				continue // released between our create and the read: try again
			}
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
	return s.readLock(ctx)
}

func (s *Store) readLock(ctx context.Context) (*state.LockInfo, error) {
	data, _, err := s.get(ctx, s.lockKey(), 64<<10)
	if err != nil {
		if isNotFound(err) {
			return nil, err
		}
		return nil, s.describe("reading the state lock", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var info state.LockInfo
	if err := dec.Decode(&info); err != nil {
		return nil, fmt.Errorf("lock object does not parse: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if info.ID == "" {
		return nil, errors.New("lock object has no id")
	}
	return &info, nil
}

// Unlock removes KEY.lock if it holds id; a lock with another id is left alone and
// reported as a *state.LockIDError.
func (s *Store) Unlock(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	info, err := s.readLock(ctx)
	switch {
	case err != nil && isNotFound(err):
		return fmt.Errorf("unlocking state: %s does not exist, the state is not locked", s.LockPath())
	case err != nil:
		return fmt.Errorf("unlocking state: %s: %w", s.LockPath(), err)
	case info.ID != id:
		return &state.LockIDError{Path: s.LockPath(), Want: id, Actual: info.ID}
	}
	key := s.lockKey()
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return s.describe("releasing the state lock", err)
	}
	return nil
}

// ForceUnlock removes a lock left by a run that died (desksync force-unlock ID), when its
// ID is id. Unless force is set, a lock whose holder is still running on this host is
// refused with a *state.HolderAliveError, as for a state file.
func (s *Store) ForceUnlock(id string, force bool) error {
	s.mu.Lock()
	err := s.ready(context.Background(), "removing the state lock")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !force {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		info, err := s.readLock(ctx)
		cancel()
		if err == nil && info.ID == id && state.HolderAlive(*info) {
			return &state.HolderAliveError{Path: s.LockPath(), Info: *info}
		}
	}
	return s.Unlock(id)
}
