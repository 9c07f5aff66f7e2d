package state

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// writtenBytes is what this process has passed to write(2) so far (Linux), or -1.
func writtenBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// recordUploads writes what apply records for n new files, two steps each (the pending
// ref, then the activation), through save after every step, and returns the final state.
func recordUploads(tb testing.TB, n int, save func(s *State, m Mutation) error) *State {
	s := New("https://example.teamwork.com")
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := range n {
		addr := fmt.Sprintf("files/f%05d.bin", i)
		id := int64(100000 + i)
		for _, m := range []Mutation{
			{Op: OpSetPending, Address: addr, Pending: &Pending{ID: id, Blake3: testHash, Filename: addr[6:], Size: 4096, StartedAt: at}},
			{Op: OpActivate, Address: addr, Attachment: &Attachment{ID: id, Filename: addr[6:], MimeType: "application/octet-stream",
				Disposition: "attachment", Type: "attachment", Size: 4096, Blake3: testHash, State: "active", UploadedAt: at}},
		} {
			if err := s.Apply(m); err != nil {
				tb.Fatal(err)
			}
			if err := save(s, m); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return s
}

// BenchmarkRecordUploads compares the bytes written and the time taken to record an apply
// of 1,000 and 4,000 new files by a whole Save after every step and by Append (with one
// Compact at the end). Run it with -benchtime=1x: the Save series writes gigabytes.
func BenchmarkRecordUploads(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1000, 4000} {
		for _, how := range []string{"save", "append"} {
			b.Run(fmt.Sprintf("%s/%d", how, n), func(b *testing.B) {
				var written, stateSize int64
				for b.Loop() {
					f := NewFile(filepath.Join(b.TempDir(), "s.json"))
					before := writtenBytes()
					s := recordUploads(b, n, func(s *State, m Mutation) error {
						if how == "save" {
							return f.Save(ctx, s)
						}
						return f.Append(ctx, s, []Mutation{m})
					})
					if err := f.Compact(ctx, s); err != nil {
						b.Fatal(err)
					}
					written = writtenBytes() - before
					fi, err := os.Stat(f.Path())
					if err != nil {
						b.Fatal(err)
					}
					stateSize = fi.Size()
				}
				b.ReportMetric(float64(written), "bytes-written")
				b.ReportMetric(float64(stateSize), "state-bytes")
				b.ReportMetric(float64(written)/float64(stateSize), "x-state")
			})
		}
	}
}

// The target of docs/benchmarks.md: recording an apply of 4,000 new files writes at most 64 times the
// final state's size.
func TestAppendWritesLinearly(t *testing.T) {
	if os.Getenv("DESKSYNC_LONG_TESTS") == "" {
		t.Skip("long test: set DESKSYNC_LONG_TESTS=1")
	}
	if writtenBytes() < 0 {
		t.Skip("needs /proc/self/io")
	}
	ctx := context.Background()
	f := NewFile(filepath.Join(t.TempDir(), "s.json"))
	before := writtenBytes()
	s := recordUploads(t, 4000, func(s *State, m Mutation) error {
		return f.Append(ctx, s, []Mutation{m})
	})
	if err := f.Compact(ctx, s); err != nil {
		t.Fatal(err)
	}
	written := writtenBytes() - before
	fi, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if s.Serial != 8000 {
		t.Errorf("serial %d after 8,000 steps", s.Serial)
	}
	if ratio := float64(written) / float64(fi.Size()); ratio > 64 {
		t.Errorf("wrote %d bytes for a %d-byte state: %.1fx, want at most 64x", written, fi.Size(), ratio)
	} else {
		t.Logf("wrote %d bytes for a %d-byte state: %.1fx", written, fi.Size(), ratio)
	}
}
