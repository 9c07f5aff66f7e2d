package desktest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"
)

// Request is one entry of the request log, recorded when the answer was sent.
type Request struct {
	Method   string
	Path     string
	Endpoint Endpoint
	// Status is the HTTP status answered; 0 when the connection was dropped.
	Status int
	// Dropped says an injected fault closed the connection without an answer.
	Dropped bool
	// Authorization and ContentType are the request's headers, verbatim, so tests can
	// check that the S3 POST carried no API key and that bodies were labelled.
	Authorization string
	ContentType   string
	// Time is when the request arrived, on the emulator's clock.
	Time time.Time
}

// Requests returns the request log in order of completion.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Files returns every file not purged by Remove, sorted by ID.
func (s *Server) Files() []FileRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FileRecord, 0, len(s.files))
	for _, id := range s.sortedIDs() {
		out = append(out, s.files[id].FileRecord)
	}
	return out
}

func (s *Server) sortedIDs() []int64 {
	ids := make([]int64, 0, len(s.files))
	for id := range s.files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// NotFoundError reports a file id the emulator does not hold (never issued, or
// purged by Remove).
type NotFoundError struct{ ID int64 }

func (e *NotFoundError) Error() string { return fmt.Sprintf("desktest: no file %d", e.ID) }

// Hint says where valid ids come from.
func (e *NotFoundError) Hint() string { return "ids come from a ref; list them with Files()" }

// NoContentError reports a file with no uploaded object.
type NoContentError struct{ ID int64 }

func (e *NoContentError) Error() string {
	return fmt.Sprintf("desktest: file %d has no uploaded object", e.ID)
}

// Hint says how a file gets content.
func (e *NoContentError) Hint() string {
	return "upload it to the ref's url first, or give it content with SetContent"
}

// Content returns the uploaded object of file id, whatever the file's state.
func (s *Server) Content(id int64) ([]byte, error) {
	s.mu.Lock()
	rec, ok := s.files[id]
	uploaded := ok && rec.Uploaded
	s.mu.Unlock()
	if !ok {
		return nil, &NotFoundError{ID: id}
	}
	if !uploaded {
		return nil, &NoContentError{ID: id}
	}
	f, err := s.blobs.open(id)
	if err != nil {
		return nil, fmt.Errorf("desktest: reading the object of file %d: %w", id, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Edit changes file id as if someone had edited it on Desk, for drift tests. fn may
// change any field but ID, Key and MD5, which the emulator restores (use SetContent to
// change the content); setting State to deleted stamps DeletedAt. The change is
// persisted.
func (s *Server) Edit(id int64, fn func(*FileRecord)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.files[id]
	if !ok {
		return &NotFoundError{ID: id}
	}
	fr := rec.FileRecord
	fn(&fr)
	fr.ID, fr.Key, fr.MD5 = rec.ID, rec.Key, rec.MD5
	// Keep the record coherent: Desk always shows when a deleted file went.
	switch {
	case fr.State == "deleted" && fr.DeletedAt.IsZero():
		fr.DeletedAt = s.now()
	case fr.State != "deleted":
		fr.DeletedAt = time.Time{}
	}
	rec.FileRecord = fr
	return s.persist(id)
}

// SetContent replaces the object of file id, as a remote edit of the content would;
// MD5 follows, and Size too when the file is active.
func (s *Server) SetContent(id int64, data []byte) error {
	sum := md5.Sum(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.files[id]
	if !ok {
		return &NotFoundError{ID: id}
	}
	if err := s.blobs.put(id, bytes.Clone(data)); err != nil {
		return err
	}
	rec.Uploaded, rec.ObjectSize, rec.MD5 = true, int64(len(data)), hex.EncodeToString(sum[:])
	if rec.State == "active" {
		rec.Size = rec.ObjectSize
	}
	rec.UpdatedAt = s.now()
	return s.persist(id)
}

// Remove purges file id and its object, as if Desk had lost it: GET answers 404 from
// then on.
func (s *Server) Remove(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.files[id]
	if !ok {
		return &NotFoundError{ID: id}
	}
	delete(s.files, id)
	delete(s.byKey, rec.Key)
	if err := s.blobs.remove(id); err != nil {
		return err
	}
	return s.persist(id)
}
