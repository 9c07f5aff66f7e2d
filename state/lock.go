package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// lockPoll is how often a waiting Lock looks at the lock again; a random part of up to
// half of it is added so that waiters do not retry in step.
const lockPoll = 200 * time.Millisecond

// LockPath returns the path of the lock file, <path>.lock.
func (f *File) LockPath() string { return f.path + ".lock" }

// Lock creates <path>.lock exclusively, holding info completed with a random ID (when
// empty), this process's PID, user@host (when Who is empty) and the current time. If
// another run holds it, Lock polls until ctx is done (with an already-done ctx it tries
// exactly once) and then returns a *LockedError naming the holder.
func (f *File) Lock(ctx context.Context, info LockInfo) (string, error) {
	if info.ID == "" {
		info.ID = newUUID()
	}
	info.PID = os.Getpid()
	if info.Who == "" {
		info.Who = f.who()
	}
	for races := 0; ; {
		info.Created = f.now().UTC()
		err := f.tryLock(info)
		if err == nil {
			f.removeLeftovers()
			f.mu.Lock()
			f.lockID = info.ID
			f.mu.Unlock()
			return info.ID, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("taking the state lock %s: %w", f.LockPath(), err)
		}
		if ctx.Err() != nil {
			locked, gone := f.lockedError()
			if gone && races < 3 {
				races++ // released between our attempt and the read: try again at once
				continue
			}
			return "", locked
		}
		wait := lockPoll + rand.N(lockPoll/2)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			// Try once more: the holder may have let go while we slept.
		case <-t.C:
		}
	}
}

// linkLock creates the lock holding data by linking a complete temp file to its name.
func (f *File) linkLock(data []byte) error {
	dir, base := filepath.Split(f.LockPath())
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o644) // CreateTemp makes it private; a lock is for everyone to read
	if err == nil {
		_, err = tmp.Write(data)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(tmp.Name(), f.LockPath())
}

// removeLeftovers deletes the temp files of Saves and Locks that a killed run left
// half done (<base>.tmp-*, <base>.backup.tmp-*, <base>.lock.tmp-*), which would
// otherwise pile up beside a state file that is usually committed to git. Only the
// lock holder writes the state, so once the lock is taken no such file can belong to
// a running Save; a lock temp file removed under a concurrent Lock makes that Lock
// fall back to the exclusive create, which then finds the lock held. Best effort: a
// leftover that cannot be removed harms nothing but the folder listing.
func (f *File) removeLeftovers() {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && (strings.HasPrefix(name, base+".tmp-") ||
			strings.HasPrefix(name, base+".backup.tmp-") || strings.HasPrefix(name, base+".lock.tmp-")) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

func (f *File) tryLock(info LockInfo) error {
	data, err := json.Marshal(info, jsontext.WithIndent("  "))
	if err != nil {
		return err
	}
	data = append(data, '\n')
	// The lock appears with its content: written to a temp file, then hard-linked to
	// the lock's name, which fails if it exists. A lock created empty and then
	// written, as below, is left empty by a kill in between, and an empty lock has no
	// id for force-unlock. Where links are not supported (or the temp file vanished)
	// the exclusive create below still decides who holds the lock.
	if err := f.linkLock(data); err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	fh, err := os.OpenFile(f.LockPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	// One write, so a reader sees an empty file for at most an instant (see readLock).
	_, err = fh.Write(data)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.LockPath())
		return err
	}
	return nil
}

// lockedError describes the current holder of the lock; gone reports that the lock was
// released before it could be read.
func (f *File) lockedError() (locked error, gone bool) {
	info, err := f.readLock()
	if errors.Is(err, fs.ErrNotExist) {
		return &LockedError{Path: f.LockPath(), Err: errors.New("it was released while being read; try again")}, true
	}
	if err != nil {
		return &LockedError{Path: f.LockPath(), Err: err}, false
	}
	e := &LockedError{Path: f.LockPath(), Info: *info, Age: f.now().Sub(info.Created)}
	if e.Age < 0 {
		e.Age = 0
	}
	if onHost(*info, f.hostname) {
		e.Stale = !processAlive(info.PID)
	}
	return e, false
}

// onHost reports whether info's holder ran on the host hostname names, so that its pid
// means something here.
func onHost(info LockInfo, hostname func() (string, error)) bool {
	host, err := hostname()
	// A pid past 32 bits would reach the kernel cut short (4294967295 as -1, every
	// process): such a holder is not one this host can ask about.
	return err == nil && host != "" && holderHost(info.Who) == host && info.PID > 0 && info.PID <= math.MaxInt32
}

// HolderAlive reports whether info's holder is running on this host: the lock names this
// host and its pid is alive. force-unlock refuses such a lock without --force, whatever
// Store holds it.
func HolderAlive(info LockInfo) bool {
	return onHost(info, os.Hostname) && processAlive(info.PID)
}

// holderHost returns the host part of user@host.
func holderHost(who string) string {
	if i := strings.LastIndexByte(who, '@'); i >= 0 {
		return who[i+1:]
	}
	return ""
}

func (f *File) who() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := f.hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// ReadLock returns the current lock holder, for diagnostics. With no lock the error
// matches fs.ErrNotExist.
func (f *File) ReadLock() (*LockInfo, error) {
	info, err := f.readLock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.LockPath(), err)
	}
	return info, nil
}

func (f *File) readLock() (*LockInfo, error) {
	var data []byte
	var err error
	// A lock file is created empty and written at once; give the writer a moment before
	// calling an empty file broken.
	for range 5 {
		data, err = readCapped(f.LockPath(), 64<<10)
		if err != nil || len(bytes.TrimSpace(data)) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	var info LockInfo
	if err := json.Unmarshal(data, &info, json.RejectUnknownMembers(true)); err != nil {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, errors.New("lock file is empty")
		}
		return nil, fmt.Errorf("lock file does not parse: %s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "json: "), "jsontext: "))
	}
	if info.ID == "" {
		return nil, errors.New("lock file has no id")
	}
	if info.PID < 0 || info.PID > math.MaxInt32 {
		// The kernel reads a pid as 32 bits: 4294967295 would ask about pid -1, every
		// process, and a forged lock would look alive forever.
		return nil, fmt.Errorf("lock file has pid %d, which is no process id", info.PID)
	}
	return &info, nil
}

// ForceUnlock removes a lock left behind by a run that died (desksync force-unlock ID).
// The id must match the lock's, so that a typo or an old id cannot break a live run's
// lock; a mismatch is a *LockIDError naming the actual id. Unless force is set, a lock
// whose holder is still running on this host is refused with a *HolderAliveError:
// removing it would let a second run write the state beside the first.
func (f *File) ForceUnlock(id string, force bool) error {
	return f.unlock(id, !force)
}

// Unlock removes the lock if it holds id; a lock with another id is left alone and
// reported as a *LockIDError.
func (f *File) Unlock(id string) error {
	return f.unlock(id, false)
}

func (f *File) unlock(id string, refuseLive bool) error {
	info, err := f.readLock()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlocking state: %s does not exist, the state is not locked: %w", f.LockPath(), err)
	}
	if err != nil {
		return fmt.Errorf("unlocking state: %s: %w", f.LockPath(), err)
	}
	if info.ID != id {
		return &LockIDError{Path: f.LockPath(), Want: id, Actual: info.ID}
	}
	if refuseLive && onHost(*info, f.hostname) && processAlive(info.PID) {
		return &HolderAliveError{Path: f.LockPath(), Info: *info}
	}
	// Between the read and the remove another run could only have replaced the lock if
	// someone removed ours first; the id check guards against typos and old ids, not that.
	if err := os.Remove(f.LockPath()); err != nil {
		return fmt.Errorf("unlocking state: %w", err)
	}
	f.mu.Lock()
	if f.lockID == id {
		f.lockID = ""
	}
	f.mu.Unlock()
	return nil
}
