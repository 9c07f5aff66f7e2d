package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

var _ Store = (*File)(nil)

// File is a Store kept in one state file, with <path>.journal holding the steps appended
// since the file was last written whole, <path>.backup the state one step behind, and
// <path>.lock the lock. Its methods are safe for concurrent use, but writes should come
// from one writer holding the lock (apply serializes them).
type File struct {
	path string

	// Seams for tests: the clock, this host's name, and a hook run before each step of
	// a write, which a test uses to fail or kill at that step.
	now      func() time.Time
	hostname func() (string, error)
	hook     func(step string) error

	mu      sync.Mutex
	checked bool  // the files on disk have been read by Load or a write
	diskErr error // why the files on disk could not be decoded; writes refuse while set
	disk    onDisk
	lockID  string // the lock this File took, until it releases it
}

// onDisk is what File last read or wrote, so that Append knows where the journal ends
// and whether it still continues the state it is given.
type onDisk struct {
	exists     bool
	lineage    string
	serial     int64 // the state file's serial plus the journal's entries
	fileSize   int64
	journalLen int64 // bytes of whole batches; anything after them is a torn tail
	journalEnd int64 // the journal's size, -1 when unknown
	lastBatch  int64 // where the last whole batch starts
}

// Write steps, named for the failure-injection hook.
const (
	stepWrite         = "write"
	stepSync          = "sync"
	stepBackup        = "backup"
	stepLink          = "link" // failing it makes backup fall back to copying
	stepRename        = "rename"
	stepSyncDir       = "syncdir"
	stepJournalRemove = "journal-remove"
	stepJournalWrite  = "journal-write"
	stepJournalTorn   = "journal-torn" // half of an append's bytes are written
	stepJournalSync   = "journal-sync"
)

// NewFile returns the Store for the state file at path. Nothing is read until Load.
func NewFile(path string) *File {
	f := &File{path: path, now: time.Now, hostname: os.Hostname}
	f.hook = killHook()
	return f
}

// Path returns the state file's path.
func (f *File) Path() string { return f.path }

// JournalPath returns the path of the journal, <path>.journal.
func (f *File) JournalPath() string { return f.path + ".journal" }

// Load reads and decodes the state file and replays its journal. It returns an error
// matching ErrNotExist (and fs.ErrNotExist) when there is no state, and *CorruptError or
// *VersionError, carrying the path, when either file cannot be decoded; such files are
// then never overwritten. When this File holds the lock, a journal (which only a run that
// died leaves behind) is compacted at once, so that a command that then finds nothing to
// do still leaves one plain file.
func (f *File) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.read()
	if err == nil && f.lockID != "" && f.disk.journalEnd > 0 {
		err = f.writeWhole(s, 0)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// read decodes the files on disk and remembers whether it could. A reader without the
// lock (plan, state list) can meet a compaction between reading the file and its
// journal, and would then see a journal that does not continue the file it read: when
// the file was replaced meanwhile, it reads again. f.mu must be held.
func (f *File) read() (*State, error) {
	for range 3 {
		before, _ := os.Stat(f.path)
		s, err := f.readOnce()
		after, _ := os.Stat(f.path)
		if before == nil || after == nil || os.SameFile(before, after) {
			return s, err
		}
	}
	return f.readOnce()
}

func (f *File) readOnce() (*State, error) {
	data, err := readCapped(f.path, MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		f.checked, f.diskErr, f.disk = true, nil, onDisk{journalEnd: -1}
		if _, jerr := os.Lstat(f.JournalPath()); jerr == nil {
			f.diskErr = f.journalError(0, "the journal continues a state file that does not exist")
			return nil, f.diskErr
		}
		return nil, fmt.Errorf("%s: %w", f.path, ErrNotExist)
	}
	if err != nil {
		// Unreadable is not undecodable: a later write may still be refused by the OS, but
		// we do not claim the content is bad.
		return nil, fmt.Errorf("reading state: %w", err)
	}
	f.checked, f.diskErr = true, nil
	s, err := Decode(data)
	if err != nil {
		f.diskErr = setPath(err, f.path)
		return nil, f.diskErr
	}
	f.disk = onDisk{exists: true, lineage: s.Lineage, fileSize: int64(len(data))}
	if err := f.replay(s); err != nil {
		f.diskErr = err
		return nil, err
	}
	f.disk.serial = s.Serial
	return s, nil
}

// readCapped reads at most limit bytes of path; a longer file is a *CorruptError. The
// path comes from the pipeline or a reviewed manifest, so it is opened without blocking
// and anything but a regular file (a FIFO would hang the command) is refused.
func readCapped(path string, limit int64) ([]byte, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	// One read into a buffer of the file's size, one byte more to see its end, instead
	// of io.ReadAll's doublings; a file that grew since the stat is read on to the limit.
	data := make([]byte, 0, min(fi.Size(), limit)+1)
	for {
		n, err := fh.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			rest, err := io.ReadAll(io.LimitReader(fh, limit+1-int64(len(data))))
			if err != nil {
				return nil, err
			}
			data = append(data, rest...)
			break
		}
	}
	if int64(len(data)) > limit {
		return nil, &CorruptError{Path: path, Msg: fmt.Sprintf("file is larger than the %d MiB a state file may have", limit>>20)}
	}
	return data, nil
}

// Save writes s as the new state: serial+1, written atomically, the previous file kept as
// <path>.backup, the journal removed. s.Serial is bumped only when the write succeeded.
// Save refuses to replace files that could not be decoded, and leaves the old state intact
// whenever it fails.
func (f *File) Save(ctx context.Context, s *State) error {
	return f.whole(ctx, s, 1)
}

// Compact writes s whole without changing its serial and removes the journal. It writes
// nothing when the file on disk already is s's serial with no journal.
func (f *File) Compact(ctx context.Context, s *State) error {
	f.mu.Lock()
	d := f.disk
	f.mu.Unlock()
	if s != nil && d.exists && d.lineage == s.Lineage && d.serial == s.Serial && d.journalEnd == 0 {
		return ctx.Err()
	}
	return f.whole(ctx, s, 0)
}

// whole writes s with its serial bumped by bump.
func (f *File) whole(ctx context.Context, s *State, bump int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil {
		return errors.New("saving state: no state given")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	return f.writeWhole(s, bump)
}

// writable reads the files on disk once and refuses to write over ones that could not be
// decoded. f.mu must be held.
func (f *File) writable() error {
	if !f.checked {
		if _, err := f.read(); err != nil && f.diskErr == nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("saving state: %w", err)
		}
	}
	if f.diskErr != nil {
		return fmt.Errorf("not saving state over a file that could not be read: %w", f.diskErr)
	}
	return nil
}

// writeWhole writes s with its serial bumped by bump and removes the journal, whose
// entries the file then holds. f.mu must be held.
func (f *File) writeWhole(s *State, bump int64) error {
	next := *s // Encode only reads, so sharing the maps is fine
	next.Serial += bump
	data, err := next.Encode()
	if err != nil {
		return fmt.Errorf("saving state to %s: %w", f.path, err)
	}
	// The backup is the state one step behind, as it is when every step is a whole save:
	// restoring it leaves the next apply one step to resolve, never several.
	var previous []byte
	if cut := f.disk.lastBatch; f.disk.exists && f.disk.journalLen > 0 {
		if bump > 0 {
			cut = f.disk.journalLen
		}
		if cut > 0 {
			if previous, err = f.previous(cut); err != nil {
				return fmt.Errorf("saving state to %s (the previous state is intact): %w", f.path, err)
			}
		}
	}
	renamed, err := f.write(data, previous)
	if renamed {
		// The new state is in place, even if the folder sync failed.
		s.Serial = next.Serial
		f.disk = onDisk{exists: true, lineage: s.Lineage, serial: s.Serial, fileSize: int64(len(data)), journalEnd: -1}
	}
	switch {
	case err != nil && renamed:
		return fmt.Errorf("saved state to %s, but it may not survive a crash: syncing its folder: %w", f.path, err)
	case err != nil:
		return fmt.Errorf("saving state to %s (the previous state is intact): %w", f.path, err)
	}
	// A journal left behind is harmless (its serials are not newer than the file's), but
	// a finished command must leave one plain file.
	if err := f.step(stepJournalRemove); err != nil {
		return err
	}
	if err := os.Remove(f.JournalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("saved state to %s, but removing its journal: %w", f.path, err)
	}
	f.disk.journalEnd = 0
	return nil
}

// write replaces the state file with data, crash-safely (see the package doc). renamed
// reports that the new file is in place (only the folder sync may have failed).
func (f *File) write(data, previous []byte) (renamed bool, err error) {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	old, statErr := os.Stat(f.path)
	if statErr == nil {
		mode = old.Mode().Perm()
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return false, statErr
	}

	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return false, err
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err = f.step(stepWrite); err != nil {
		return false, err
	}
	if _, err = tmp.Write(data); err != nil {
		return false, err
	}
	if err = tmp.Chmod(mode); err != nil {
		return false, err
	}
	if err = f.step(stepSync); err != nil {
		return false, err
	}
	if err = tmp.Sync(); err != nil {
		return false, err
	}
	// Close, then rename: Windows does not rename open files.
	if err = tmp.Close(); err != nil {
		return false, err
	}
	if statErr == nil {
		if err = f.step(stepBackup); err != nil {
			return false, err
		}
		if err = f.backup(dir, base, mode, previous); err != nil {
			return false, fmt.Errorf("keeping the previous state as %s.backup: %w", base, err)
		}
	}
	if err = f.step(stepRename); err != nil {
		return false, err
	}
	if err = os.Rename(tmpName, f.path); err != nil {
		return false, err
	}
	// From here the new state is in place; a failed folder sync is still reported, since
	// the rename may not survive a power loss, but there is nothing left to clean up.
	renamed = true
	if err = f.step(stepSyncDir); err != nil {
		return renamed, err
	}
	return renamed, syncDir(dir)
}

// backup makes <base>.backup hold the state before the last step recorded: previous when
// given (the file had a journal), else the current file's bytes. A hard link costs
// nothing and keeps the old inode alive once the new file is renamed over the path; where
// links are not supported the bytes are copied and synced.
func (f *File) backup(dir, base string, mode fs.FileMode, previous []byte) error {
	name := filepath.Join(dir, base+".backup")
	tmpName := filepath.Join(dir, base+".backup.tmp-"+newUUID())
	err := errors.New("the backup is not the current file")
	if previous == nil {
		if err = f.step(stepLink); err == nil {
			err = os.Link(f.path, tmpName)
		}
	}
	if err != nil {
		if previous == nil {
			if previous, err = readCapped(f.path, MaxSize); err != nil {
				return err
			}
		}
		if err := writeSynced(tmpName, previous, mode); err != nil {
			os.Remove(tmpName)
			return err
		}
	}
	if err := os.Rename(tmpName, name); err != nil {
		os.Remove(tmpName)
		return err
	}
	// Rename does nothing when both names are links to one file, as they are after a
	// kill between a save's backup step and its rename: the backup already holds the
	// current state, and tmpName would stay beside it. After a rename that moved it,
	// there is nothing to remove.
	_ = os.Remove(tmpName)
	return nil
}

func writeSynced(name string, data []byte, mode fs.FileMode) error {
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (f *File) step(name string) error {
	if f.hook == nil {
		return nil
	}
	return f.hook(name)
}

// syncDir makes a rename in dir durable. Windows cannot open a folder for syncing, and its
// renames are journaled by NTFS.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
