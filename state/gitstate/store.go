package gitstate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

var _ state.Store = (*Store)(nil)

// The files of a state commit's tree.
const (
	stateFile   = "desksync.state.json"
	journalFile = "desksync.state.journal"
)

// minCompact is the journal size below which Append never compacts by itself: a small
// state would otherwise be rewritten every few steps.
const minCompact = 64 << 10

// Options configure Open; the zero value runs the git on PATH in the working directory.
type Options struct {
	// Dir is the folder git runs in: inside the repository whose remote keeps the state.
	Dir string
	// Git is the git command; empty means "git" from PATH.
	Git string
	// Now is the clock for lock times; nil means time.Now.
	Now func() time.Time
}

// Store is a state.Store kept on a git ref (see the package doc). Its methods are safe for
// concurrent use; writes should come from one writer holding the lock.
type Store struct {
	location      string // git:REMOTE:REF, for messages
	remote, ref   string
	lockRef       string
	dir, gitPath  string
	now           func() time.Time
	fetched       string // the local ref REF is fetched into
	lockFetched   string // the local ref REF-lock is fetched into
	kept          string // the local ref that keeps a commit the server refused
	lockKeptLocal string // the local ref that keeps this process's lock commit

	gitMu sync.Mutex // held while a git command runs

	mu      sync.Mutex
	read    bool   // REF has been read (or found missing) and decoded
	oid     string // REF's commit as last read or written; "" when REF does not exist
	blob    string // the state file's blob in oid's tree
	size    int    // the state file's size
	journal []byte // the journal in oid's tree
	lineage string // what oid holds, journal replayed
	serial  int64
	stored  []byte // the state file when the journal is empty: lets Compact skip a no-op
}

// lockSuffix names the lock ref after the state's ref; a ref name may not end in .lock.
const lockSuffix = "-lock"

// Open returns the Store for a git:REF or git:REMOTE:REF location. It contacts nothing.
func Open(location string, opts Options) (*Store, error) {
	remote, ref, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	s := &Store{location: Prefix + remote + ":" + ref, remote: remote, ref: ref, lockRef: ref + lockSuffix,
		dir: opts.Dir, gitPath: opts.Git, now: opts.Now}
	if s.location == Prefix+DefaultRemote+":"+ref && !strings.Contains(strings.TrimPrefix(location, Prefix), ":") {
		s.location = location
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.gitPath == "" {
		if s.gitPath, err = exec.LookPath("git"); err != nil {
			return nil, hint.New(fmt.Sprintf("%s: the state lives on a git ref, and no git command was found", s.location),
				"install git, or keep the state in a file or on S3 (--state)")
		}
	}
	sum := sha256.Sum256([]byte(remote + "\x00" + ref))
	base := "refs/desksync-local/" + hex.EncodeToString(sum[:8])
	s.fetched, s.lockFetched, s.kept, s.lockKeptLocal = base+"/state", base+"/lock", base+"/unpushed", base+"/held-lock"
	return s, nil
}

// Path returns the state's location as given, git:REF or git:REMOTE:REF.
func (s *Store) Path() string { return s.location }

// LockPath returns the lock's location, git:REMOTE:REF-lock.
func (s *Store) LockPath() string { return s.location + lockSuffix }

// Load fetches REF and returns the state it holds with its journal replayed, or an error
// matching state.ErrNotExist when REF does not exist.
func (s *Store) Load(ctx context.Context) (*state.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

// load reads REF. s.mu must be held.
func (s *Store) load(ctx context.Context) (*state.State, error) {
	s.read, s.oid, s.blob, s.size, s.journal, s.stored = false, "", "", 0, nil, nil
	const op = "reading the state"
	oid, err := s.fetch(ctx, op, s.ref, s.fetched)
	if err != nil {
		return nil, err
	}
	if oid == "" {
		s.read = true
		return nil, fmt.Errorf("%s: %w", s.location, state.ErrNotExist)
	}
	files, err := s.readTree(ctx, op, oid)
	if err != nil {
		return nil, err
	}
	at := s.location + "@" + short(oid) + ":"
	blob, ok := files[stateFile]
	if !ok {
		return nil, &state.CorruptError{Path: at + stateFile, Msg: "the commit holds no " + stateFile}
	}
	data, ok, err := s.readBlob(ctx, op, blob, state.MaxSize)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &state.CorruptError{Path: at + stateFile, Msg: fmt.Sprintf("larger than the %d MiB desksync reads", state.MaxSize>>20)}
	}
	st, err := state.Decode(data)
	if err != nil {
		return nil, withPath(err, at+stateFile)
	}
	var journal []byte
	if jb, ok := files[journalFile]; ok {
		if journal, ok, err = s.readBlob(ctx, op, jb, state.MaxSize); err != nil {
			return nil, err
		} else if !ok {
			return nil, &state.CorruptError{Path: at + journalFile, Journal: true, Msg: "larger than desksync reads"}
		}
		if err := replay(st, journal, at+journalFile); err != nil {
			return nil, err
		}
	}
	s.read, s.oid, s.blob, s.size, s.journal = true, oid, blob.oid, len(data), journal
	s.lineage, s.serial = st.Lineage, st.Serial
	if len(journal) == 0 {
		s.stored = data
	}
	return st, nil
}

// withPath names where a decode error was found.
func withPath(err error, path string) error {
	var ce *state.CorruptError
	if errors.As(err, &ce) {
		ce.Path = path
	}
	var ve *state.VersionError
	if errors.As(err, &ve) {
		ve.Path = path
	}
	return err
}

func short(oid string) string { return oid[:min(len(oid), 12)] }

// Save bumps st.Serial and writes st whole in a new commit on REF; the commit it replaces
// stays its parent, as the backup. st.Serial is bumped only when the push succeeded.
func (s *Store) Save(ctx context.Context, st *state.State) error {
	if st == nil {
		return errors.New("saving state: no state given")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := *st
	next.Serial++
	if err := s.writeWhole(ctx, &next); err != nil {
		return err
	}
	st.Serial = next.Serial
	return nil
}

// Compact writes st whole (serial unchanged) without a journal; it does nothing when REF
// already holds exactly st.
func (s *Store) Compact(ctx context.Context, st *state.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read && s.oid != "" && s.stored != nil {
		if data, err := st.Encode(); err == nil && bytes.Equal(data, s.stored) {
			return nil
		}
	}
	return s.writeWhole(ctx, st)
}

// prepareWrite reads REF if this Store has not yet: a state that does not decode is never
// overwritten, and the lease needs the commit last read. s.mu must be held.
func (s *Store) prepareWrite(ctx context.Context) error {
	if s.read {
		return nil
	}
	if _, err := s.load(ctx); err != nil && !errors.Is(err, state.ErrNotExist) {
		return fmt.Errorf("not saving over a state that could not be read: %w", err)
	}
	return nil
}

// writeWhole pushes a commit holding st and no journal. s.mu must be held.
func (s *Store) writeWhole(ctx context.Context, st *state.State) error {
	if err := s.prepareWrite(ctx); err != nil {
		return err
	}
	data, err := st.Encode()
	if err != nil {
		return fmt.Errorf("saving state to %s: %w", s.location, err)
	}
	const op = "saving the state"
	blob, err := s.writeBlob(ctx, op, data)
	if err != nil {
		return err
	}
	commit, err := s.commit(ctx, op, []treeEntry{{stateFile, blob}}, s.oid, message(st, "state"))
	if err != nil {
		return err
	}
	if err := s.publish(ctx, op, commit); err != nil {
		return err
	}
	s.blob, s.size, s.journal, s.stored = blob, len(data), nil, data
	s.lineage, s.serial = st.Lineage, st.Serial
	return nil
}

// publish pushes commit to REF with the lease on the commit last read or written, and
// remembers it. A refused push keeps commit on s.kept and returns a *ConcurrentWriteError. s.mu
// must be held.
func (s *Store) publish(ctx context.Context, op, commit string) error {
	// The push itself must not be cut short: one that reached the server would leave REF
	// moved without this run knowing, and every later write refused.
	pctx := context.WithoutCancel(ctx)
	outcome, reason, err := s.push(pctx, commit, s.ref, s.oid)
	if outcome != pushed {
		// A push whose answer was lost, or a retry of one that got through, is ours.
		if oid, lerr := s.lsRemote(pctx, op, s.ref); lerr == nil && oid == commit {
			outcome = pushed
		}
	}
	switch outcome {
	case rejected:
		_ = s.updateRef(pctx, op, s.kept, commit)
		return &ConcurrentWriteError{Location: s.location, Remote: s.remote, Ref: s.ref, Commit: commit, Kept: s.kept, Reason: reason}
	case failed:
		_ = s.updateRef(pctx, op, s.kept, commit)
		return hint.Wrap(err, fmt.Sprintf("check that \"git push %s\" works here; what this run meant to write is kept in this repository as %s (\"git show %s:%s\")",
			s.remote, s.kept, s.kept, stateFile))
	}
	s.oid = commit
	return nil
}

// message is a state commit's message: what it holds and who wrote it.
func message(st *state.State, what string) string {
	return fmt.Sprintf("desksync %s: serial %d\n\nlineage %s\nsite %s\nwritten by %s\n", what, st.Serial, st.Lineage, st.Site, who())
}

// Append records muts in a commit whose tree holds the state last written and the journal
// with muts added, and pushes it: the steps are on the server when Append returns. When
// the journal would outgrow the state, or REF does not hold st's predecessor, it writes st
// whole instead.
func (s *Store) Append(ctx context.Context, st *state.State, muts []state.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepareWrite(ctx); err != nil {
		return err
	}
	var add bytes.Buffer
	enc := json.NewEncoder(&add)
	for i, m := range muts {
		if err := enc.Encode(entry{Lineage: st.Lineage, Serial: st.Serial + 1 + int64(i), Mutation: m}); err != nil {
			return fmt.Errorf("recording a step in %s: %w", s.location, err)
		}
	}
	if s.oid == "" || st.Lineage != s.lineage || st.Serial != s.serial || len(s.journal)+add.Len() > max(s.size, minCompact) {
		next := *st
		next.Serial += int64(len(muts))
		if err := s.writeWhole(ctx, &next); err != nil {
			return err
		}
		st.Serial = next.Serial
		return nil
	}
	journal := append(append([]byte{}, s.journal...), add.Bytes()...)
	const op = "recording a step"
	jblob, err := s.writeBlob(ctx, op, journal)
	if err != nil {
		return err
	}
	next := *st
	next.Serial += int64(len(muts))
	commit, err := s.commit(ctx, op, []treeEntry{{stateFile, s.blob}, {journalFile, jblob}}, s.oid, message(&next, "steps"))
	if err != nil {
		return err
	}
	if err := s.publish(ctx, op, commit); err != nil {
		return err
	}
	s.journal, s.stored, s.serial = journal, nil, next.Serial
	st.Serial = next.Serial
	return nil
}

// who is user@host, the lock holder's and a commit's writer.
func who() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}
