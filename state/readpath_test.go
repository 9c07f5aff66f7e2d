package state

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// bigState is a valid state recording n attachments.
func bigState(n int) *State {
	s := New("https://x.teamwork.com")
	for i := range n {
		s.Attachments["files/f"+strconv.Itoa(i)+".bin"] = &Attachment{
			Blake3: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90", Disposition: "attachment",
			Filename: "f.bin", ID: int64(i + 1), MimeType: "application/octet-stream", Size: 100, State: "active",
			Type: "attachment", UploadedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		}
	}
	return s
}

// TestValidateBuildsNoStrings: checking a good state allocates a fixed handful of
// objects (the map of Desk IDs), not a name per record; the names are spelled out
// only for an error. Not parallel: AllocsPerRun counts the whole process.
func TestValidateBuildsNoStrings(t *testing.T) {
	s := bigState(5000)
	allocs := testing.AllocsPerRun(3, func() {
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 500 {
		t.Errorf("validating 5,000 good records made %.0f allocations, want a few (no string per record)", allocs)
	}
}

// TestReadCappedOneBuffer: a state file is read into one buffer of its size, not
// grown by doubling. Not parallel: it counts the bytes the whole process allocates.
func TestReadCappedOneBuffer(t *testing.T) {
	data, err := bigState(5000).Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "desksync.state.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := readCapped(p, MaxSize)
	runtime.ReadMemStats(&after)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("readCapped: %v, %d bytes, want the %d of the file", err, len(got), len(data))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(data))*5/4 {
		t.Errorf("reading a %d-byte state allocated %d bytes, want one buffer of its size", len(data), alloc)
	}
}
