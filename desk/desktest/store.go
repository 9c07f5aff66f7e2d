package desktest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// FileRecord is the emulator's view of one Desk file, for assertions and remote edits.
type FileRecord struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
	Type        string `json:"type"`
	// State is temp (after ref), active (after PATCH) or deleted (after DELETE).
	State string `json:"state"`
	// Size is what Desk reports: 0 until activation, then the object's size.
	Size int64 `json:"size"`
	// MD5 is the hex MD5 of the uploaded object, "" while none was uploaded. It is
	// derived from the content: Edit cannot change it, SetContent does.
	MD5 string `json:"md5,omitempty"`
	// Key is the S3 object key the ref issued; Edit cannot change it.
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// DeletedAt is zero unless State is deleted.
	DeletedAt time.Time `json:"deletedAt,omitzero"`
}

// record is a FileRecord plus what the emulator keeps to itself.
type record struct {
	FileRecord
	// Uploaded says an object exists for the file (MD5 then holds its digest).
	Uploaded   bool   `json:"uploaded"`
	ObjectSize int64  `json:"objectSize"`
	Token      string `json:"token"` // download URL token
}

const (
	metaFile    = "desktest.json"
	logFile     = "desktest.log"
	metaVersion = 1
)

// meta is the persisted snapshot of an emulator.
type meta struct {
	Version int       `json:"version"`
	NextID  int64     `json:"nextID"`
	Secret  string    `json:"secret"`
	Files   []*record `json:"files"`
}

// logEntry is one line of the log beside the snapshot. The first line names the
// snapshot the log continues (Snapshot, the hex SHA-256 of its bytes); every other
// line is one file's whole record after a change (File) or the ID of a file removed
// (Removed).
type logEntry struct {
	Snapshot string  `json:"snapshot,omitempty"`
	File     *record `json:"file,omitempty"`
	Removed  int64   `json:"removed,omitempty"`
}

func (s *Server) load(data []byte) error {
	var m meta
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if m.Version != metaVersion {
		return fmt.Errorf("version %d is not the known %d", m.Version, metaVersion)
	}
	if m.Secret == "" || m.NextID < 1 {
		return errors.New("secret or nextID missing")
	}
	s.secret, s.nextID = m.Secret, m.NextID
	for _, r := range m.Files {
		if r == nil || r.ID < 1 || r.ID >= m.NextID || s.files[r.ID] != nil {
			return errors.New("file records are inconsistent")
		}
		s.files[r.ID] = r
		s.byKey[r.Key] = r.ID
	}
	return nil
}

// replay applies the log at path to the loaded snapshot. A log that names another
// snapshot is ignored: a kill between writing a snapshot and starting its log leaves
// the previous log, whose every entry the new snapshot already holds (or, after New,
// an emulator New replaced). A last line without its newline is an append a kill
// interrupted, and is ignored too; any other damage is an error.
func (s *Server) replay(path string, snapshot []byte) error {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if last := lines[len(lines)-1]; !bytes.HasSuffix(last, []byte("\n")) {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		var e logEntry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		if i == 0 {
			if e.Snapshot == "" || e.File != nil || e.Removed != 0 {
				return errors.New("line 1: not the header naming the snapshot")
			}
			if e.Snapshot != snapshotSum(snapshot) {
				return nil
			}
			continue
		}
		if err := s.replayEntry(e); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

func (s *Server) replayEntry(e logEntry) error {
	switch {
	case e.Snapshot == "" && e.File != nil && e.Removed == 0:
		r := e.File
		if r.ID < 1 || r.ID == math.MaxInt64 {
			return fmt.Errorf("a file record with id %d", r.ID)
		}
		if id, ok := s.byKey[r.Key]; ok && id != r.ID {
			return fmt.Errorf("files %d and %d have the same key", id, r.ID)
		}
		if old := s.files[r.ID]; old != nil {
			delete(s.byKey, old.Key)
		}
		s.files[r.ID] = r
		s.byKey[r.Key] = r.ID
		s.nextID = max(s.nextID, r.ID+1)
	case e.Snapshot == "" && e.File == nil && e.Removed > 0 && e.Removed < math.MaxInt64:
		if old := s.files[e.Removed]; old != nil {
			delete(s.byKey, old.Key)
			delete(s.files, e.Removed)
		}
		s.nextID = max(s.nextID, e.Removed+1)
	default:
		return errors.New("not one file record or one removal")
	}
	return nil
}

func snapshotSum(snapshot []byte) string {
	sum := sha256.Sum256(snapshot)
	return hex.EncodeToString(sum[:])
}

// persist records the change of file id (its record, or its removal when the emulator
// no longer holds it) when the emulator has a Dir: one line appended to the log, so a
// request costs the same however many files the emulator holds. The first change after
// New or Open writes a whole snapshot instead and starts a new log. Callers hold s.mu,
// so lines are appended in the order the changes were made.
func (s *Server) persist(id int64) error {
	if s.dir == "" {
		return nil
	}
	if s.log == nil {
		return s.compact()
	}
	e := logEntry{Removed: id}
	if rec := s.files[id]; rec != nil {
		e = logEntry{File: rec}
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("desktest: encoding file %d: %w", id, err)
	}
	if _, err := s.log.Write(append(line, '\n')); err != nil {
		// The log may now end in part of a line: start afresh from a snapshot.
		name := s.log.Name()
		_ = s.log.Close()
		s.log = nil
		return fmt.Errorf("desktest: appending to %s: %w", name, err)
	}
	return nil
}

// compact writes the whole emulator as a new snapshot, then a new log that names it,
// each atomically: a kill in between leaves the new snapshot and the old log, which
// replay then ignores.
func (s *Server) compact() error {
	if s.log != nil {
		_ = s.log.Close()
		s.log = nil
	}
	m := meta{Version: metaVersion, NextID: s.nextID, Secret: s.secret, Files: []*record{}}
	for _, id := range s.sortedIDs() {
		m.Files = append(m.Files, s.files[id])
	}
	snapshot, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("desktest: encoding emulator state: %w", err)
	}
	snapshot = append(snapshot, '\n')
	if err := writeAtomic(filepath.Join(s.dir, metaFile), snapshot); err != nil {
		return err
	}
	header, err := json.Marshal(logEntry{Snapshot: snapshotSum(snapshot)})
	if err != nil {
		return fmt.Errorf("desktest: encoding the log header: %w", err)
	}
	path := filepath.Join(s.dir, logFile)
	if err := writeAtomic(path, append(header, '\n')); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("desktest: opening %s: %w", path, err)
	}
	s.log = f
	return nil
}

// writeAtomic replaces path with data so that a process killed at any instant leaves
// either the old or the new content: temp file in the same folder, then rename. It
// does not fsync: the emulator is a disposable test double whose process dies with
// desksync's (the --sandbox runs in-process), and three fsyncs per Desk call made a
// sandbox apply of a hundred files take seconds. Surviving a power cut is not a goal.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("desktest: creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".desktest-*.tmp")
	if err != nil {
		return fmt.Errorf("desktest: writing emulator state in %s: %w", dir, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("desktest: writing %s: %w", path, err)
	}
	return nil
}

// blobStore keeps uploaded objects by file id.
type blobStore interface {
	// create starts a new object of about sizeHint bytes; nothing is visible until
	// commit.
	create(sizeHint int64) (blobWriter, error)
	// open returns the object's content; the caller closes it.
	open(id int64) (io.ReadSeekCloser, error)
	// remove forgets the object; a missing one is no error.
	remove(id int64) error
	// put stores data as the object of id at once (for SetContent).
	put(id int64, data []byte) error
}

// blobWriter receives an object's bytes. commit must be called with the server's lock
// held, so that the object and the metadata describing it change together.
type blobWriter interface {
	io.Writer
	// prepare finishes writing before the lock is taken for commit.
	prepare() error
	commit(id int64) error
	abort()
}

// memStore keeps objects in memory (no Dir).
type memStore struct {
	mu    sync.Mutex
	blobs map[int64][]byte
}

// maxPrealloc bounds the buffer reserved from a client's Content-Length, which a
// client could inflate.
const maxPrealloc = 64 << 20

func (m *memStore) create(sizeHint int64) (blobWriter, error) {
	w := &memWriter{m: m}
	if sizeHint > 0 {
		w.buf.Grow(int(min(sizeHint, maxPrealloc)))
	}
	return w, nil
}

func (m *memStore) open(id int64) (io.ReadSeekCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return nopCloser{bytes.NewReader(b)}, nil
}

func (m *memStore) remove(id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, id)
	return nil
}

func (m *memStore) put(id int64, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[id] = bytes.Clone(data)
	return nil
}

type memWriter struct {
	m   *memStore
	buf bytes.Buffer
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *memWriter) prepare() error              { return nil }
func (w *memWriter) abort()                      {}

func (w *memWriter) commit(id int64) error {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.blobs[id] = w.buf.Bytes()
	return nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// dirStore keeps objects as files under dir/blobs, so a 1 GiB upload never sits in
// memory and the sandbox survives restarts.
type dirStore struct{ dir string }

func (d *dirStore) blobPath(id int64) string {
	return filepath.Join(d.dir, "blobs", strconv.FormatInt(id, 10))
}

// init creates the folders and discards uploads a dead process left half written.
func (d *dirStore) init() error {
	for _, sub := range []string{"blobs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return fmt.Errorf("desktest: creating the emulator folder: %w", err)
		}
	}
	tmp := filepath.Join(d.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("desktest: listing %s: %w", tmp, err)
	}
	for _, e := range ents {
		_ = os.Remove(filepath.Join(tmp, e.Name()))
	}
	return nil
}

func (d *dirStore) create(int64) (blobWriter, error) {
	tmp := filepath.Join(d.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("desktest: creating %s: %w", tmp, err)
	}
	f, err := os.CreateTemp(tmp, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("desktest: storing an upload: %w", err)
	}
	return &fileWriter{d: d, f: f}, nil
}

func (d *dirStore) open(id int64) (io.ReadSeekCloser, error) {
	return os.Open(d.blobPath(id))
}

func (d *dirStore) remove(id int64) error {
	if err := os.Remove(d.blobPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("desktest: removing object %d: %w", id, err)
	}
	return nil
}

func (d *dirStore) put(id int64, data []byte) error {
	return writeAtomic(d.blobPath(id), data)
}

type fileWriter struct {
	d      *dirStore
	f      *os.File
	closed bool
}

func (w *fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *fileWriter) prepare() error {
	err := w.f.Close()
	w.closed = true
	if err != nil {
		return fmt.Errorf("desktest: storing an upload: %w", err)
	}
	return nil
}

func (w *fileWriter) commit(id int64) error {
	if err := os.MkdirAll(filepath.Dir(w.d.blobPath(id)), 0o755); err != nil {
		return fmt.Errorf("desktest: storing object %d: %w", id, err)
	}
	if err := os.Rename(w.f.Name(), w.d.blobPath(id)); err != nil {
		return fmt.Errorf("desktest: storing object %d: %w", id, err)
	}
	return nil
}

func (w *fileWriter) abort() {
	if !w.closed {
		_ = w.f.Close()
	}
	_ = os.Remove(w.f.Name())
}
