package state

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/desksync/desksync/internal/quote"
)

// ErrNotExist is returned (wrapped, with the path) by Load when there is no state yet. It
// matches fs.ErrNotExist as well, so callers may test for either.
var ErrNotExist = fmt.Errorf("no state file: %w", fs.ErrNotExist)

// VersionError reports a state file written by a newer desksync. It is refused rather than
// half-read, because this build would drop what it does not understand on the next save.
type VersionError struct {
	Path    string // the state file, when known
	Version int    // the version found in the file
}

func (e *VersionError) Error() string {
	return prefix(e.Path) + fmt.Sprintf("state file format version %d is newer than this desksync understands (%d)", e.Version, Version)
}

// Hint tells the user how to proceed.
func (e *VersionError) Hint() string {
	return fmt.Sprintf("upgrade desksync to a release that reads state format version %d; the state file was not changed", e.Version)
}

// CorruptError reports a state file that does not parse or breaks the format's rules.
type CorruptError struct {
	Path   string // the state file, when known
	Line   int    // 1-based line of the problem, 0 when unknown
	Column int    // 1-based column (in characters), 0 when unknown
	Field  string // JSON path of the bad value, such as attachments["a.png"].id, when known
	Msg    string // what is wrong
	Err    error  // the underlying decode error, if any
	// Journal is set when Path is the state's journal rather than the state file.
	Journal bool
	// fix, when set, is the remedy for this problem in particular, in place of restoring
	// the file: a byte order mark or a git conflict is fixed without losing the file.
	// {path} in it stands for Path, {name} for its last element. fixLocal says it is for
	// a file on disk (an editor, git), not an object in a store.
	fix      string
	fixLocal bool
}

func (e *CorruptError) Error() string {
	what := "state file is corrupt: "
	if e.Journal {
		what = "state journal is corrupt: "
	}
	var s string
	switch {
	case e.Path != "" && e.Line > 0:
		s = fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Column, what)
	case e.Path != "":
		s = e.Path + ": " + what
	case e.Line > 0:
		s = fmt.Sprintf("%sline %d, column %d: ", what, e.Line, e.Column)
	default:
		s = what
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

// Unwrap returns the underlying decode error.
func (e *CorruptError) Unwrap() error { return e.Err }

// Hint tells the user how to recover.
func (e *CorruptError) Hint() string {
	if e.fix != "" && !(e.fixLocal && strings.Contains(e.Path, "://")) {
		name := "desksync.state.json"
		if e.Path != "" {
			name = filepath.Base(e.Path)
		}
		return strings.NewReplacer("{path}", cmp.Or(e.Path, "the state file"), "{name}", name).Replace(e.fix)
	}
	if e.Journal {
		state := strings.TrimSuffix(e.Path, ".journal")
		return fmt.Sprintf("%s holds the steps made since %s was last written whole: restore both from the same moment (version control, or the CI artifact of the run that left them); desksync will not overwrite them", e.Path, state)
	}
	if e.Path == "" {
		return "restore the state file from version control or from its .backup copy; desksync will not overwrite it"
	}
	return fmt.Sprintf("restore %s from version control or from %s.backup; desksync will not overwrite it", e.Path, e.Path)
}

// LockedError reports that another run holds the state lock.
type LockedError struct {
	Path  string        // the lock file
	Info  LockInfo      // the holder, as read from the lock file
	Age   time.Duration // how long the lock has been held when the error was made
	Stale bool          // the holder ran on this host and its process is gone
	Err   error         // set when the lock file exists but does not parse
}

func (e *LockedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("state is locked: lock file %s exists but does not parse: %v", e.Path, e.Err)
	}
	i := e.Info
	return fmt.Sprintf("state is locked by %s (%s, pid %d, since %s, %s ago)",
		quote.Text(orUnknown(i.Who)), quote.Text(orUnknown(i.Operation)), i.PID, i.Created.UTC().Format(time.RFC3339), e.Age.Round(time.Second))
}

// Unwrap returns the lock file's parse error, if any.
func (e *LockedError) Unwrap() error { return e.Err }

// Hint tells the user how to get past the lock.
func (e *LockedError) Hint() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("if no desksync run is using this state, remove %s (or run \"desksync force-unlock ID\" with the id inside it)", e.Path)
	case e.Stale:
		return fmt.Sprintf("the lock looks stale: process %d is no longer running on this host; run \"desksync force-unlock %s\"", e.Info.PID, quote.Shell(e.Info.ID))
	default:
		return fmt.Sprintf("wait for it to finish (--lock-timeout waits for you), or if that run is dead run \"desksync force-unlock %s\"", quote.Shell(e.Info.ID))
	}
}

// LockIDError reports an Unlock or ForceUnlock whose id is not the one in the lock file;
// the lock is left alone, since it belongs to someone else.
type LockIDError struct {
	Path   string // the lock file
	Want   string // the id given
	Actual string // the id in the lock file
}

func (e *LockIDError) Error() string {
	return fmt.Sprintf("%s: lock id is %q, not %q; the lock was not removed", e.Path, e.Actual, e.Want)
}

// Hint tells the user which id to use.
func (e *LockIDError) Hint() string {
	return fmt.Sprintf("check who holds it first; to remove it anyway run \"desksync force-unlock %s\"", quote.Shell(e.Actual))
}

// HolderAliveError reports a force-unlock refused because the lock's holder is still
// running on this host: its pid is alive and the lock names this host.
type HolderAliveError struct {
	Path string   // the lock file
	Info LockInfo // the holder
}

func (e *HolderAliveError) Error() string {
	i := e.Info
	return fmt.Sprintf("not removing %s: its holder %s (%s, pid %d, since %s) is still running on this host",
		e.Path, quote.Text(orUnknown(i.Who)), quote.Text(orUnknown(i.Operation)), i.PID, i.Created.UTC().Format(time.RFC3339))
}

// Hint tells the user how to proceed.
func (e *HolderAliveError) Hint() string {
	return fmt.Sprintf("wait for process %d to finish, or stop it; if that pid now belongs to another program, run \"desksync force-unlock --force %s\"", e.Info.PID, quote.Shell(e.Info.ID))
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// setPath records the file name on the decode errors that carry one.
func setPath(err error, path string) error {
	var ce *CorruptError
	if errors.As(err, &ce) {
		ce.Path = path
	}
	var ve *VersionError
	if errors.As(err, &ve) {
		ve.Path = path
	}
	return err
}
