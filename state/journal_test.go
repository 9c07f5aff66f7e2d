package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/hint"
)

// journaled returns a File whose state file holds testState and whose journal holds
// uploads 1..n (two batches each: pending, then activation), and the state they make.
func journaled(t testing.TB, n int) (*File, *State) {
	t.Helper()
	f := NewFile(filepath.Join(t.TempDir(), "s.json"))
	s := testState(t)
	// A state file large enough that the steps below stay in the journal.
	for i := range 20 {
		s.Activate(fmt.Sprintf("base/%d", i), Attachment{ID: int64(2000 + i), Blake3: testHash})
	}
	for range 2 { // so that a backup exists
		if err := f.Save(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		appendUpload(t, f, s, i)
	}
	if _, err := os.Stat(f.JournalPath()); n > 0 && err != nil {
		t.Fatalf("no journal after %d appends: %v", n, err)
	}
	return f, s
}

func appendUpload(t testing.TB, f *File, s *State, i int) {
	t.Helper()
	addr := fmt.Sprintf("f%d.bin", i)
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, m := range []Mutation{
		{Op: OpSetPending, Address: addr, Pending: &Pending{ID: int64(500 + i), Blake3: testHash, Filename: addr, Size: 3, StartedAt: at}},
		{Op: OpActivate, Address: addr, Attachment: &Attachment{ID: int64(500 + i), Filename: addr, Blake3: testHash, Size: 3, UploadedAt: at}},
	} {
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
		if err := f.Append(context.Background(), s, []Mutation{m}); err != nil {
			t.Fatal(err)
		}
	}
}

func encoded(t *testing.T, s *State) string {
	t.Helper()
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadFresh(t *testing.T, f *File) (*State, error) {
	t.Helper()
	return NewFile(f.Path()).Load(context.Background())
}

func journalLines(t *testing.T, f *File) [][]byte {
	t.Helper()
	return bytes.SplitAfter(mustRead(t, f.JournalPath()), []byte("\n"))
}

func writeJournal(t *testing.T, f *File, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(f.JournalPath(), bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestJournalReplay(t *testing.T) {
	f, s := journaled(t, 2)
	got, err := loadFresh(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 6 || encoded(t, got) != encoded(t, s) || got.Attachments["f2.bin"] == nil {
		t.Errorf("Load after 4 appends returned serial %d\n%s\nwant serial 6\n%s", got.Serial, encoded(t, got), encoded(t, s))
	}
	// The state file itself still has serial 2: the steps are only in the journal.
	if onFile, err := Decode(mustRead(t, f.Path())); err != nil || onFile.Serial != 2 {
		t.Errorf("state file: %v, %v; want serial 2", onFile, err)
	}
}

// A kill in the middle of an append leaves a torn last line: it is ignored, and the next
// append replaces it, so the journal stays readable.
func TestJournalTornLastLine(t *testing.T) {
	for _, cut := range []int{1, 10, 40} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			f, _ := journaled(t, 1)
			want, err := loadFresh(t, f)
			if err != nil {
				t.Fatal(err)
			}
			s2 := want.Clone()
			appendUpload(t, f, s2, 2) // two more lines
			data := mustRead(t, f.JournalPath())
			if err := os.WriteFile(f.JournalPath(), data[:len(data)-cut], 0o644); err != nil {
				t.Fatal(err)
			}
			g := NewFile(f.Path())
			got, err := g.Load(context.Background())
			if err != nil {
				t.Fatalf("Load with a torn last line: %v", err)
			}
			// The pending step of upload 2 survived, its activation was torn.
			if got.Serial != 5 || got.Pending["f2.bin"] == nil || got.Attachments["f2.bin"] != nil {
				t.Fatalf("Load = serial %d, pending %v, attachments %v; want the pending step only", got.Serial, got.Pending, got.Attachments)
			}
			appendUpload(t, g, got, 3)
			again, err := loadFresh(t, g)
			if err != nil {
				t.Fatalf("Load after appending past a torn line: %v", err)
			}
			if encoded(t, again) != encoded(t, got) {
				t.Errorf("Load after the append\n%s\nwant\n%s", encoded(t, again), encoded(t, got))
			}
		})
	}
}

// An Append of several mutations is replayed whole or not at all: a replace deposes the
// old file and activates the new one, and seeing one without the other would track a
// Desk file twice or lose it.
func TestJournalBatchIsAtomic(t *testing.T) {
	f, s := journaled(t, 1)
	before := encoded(t, s)
	old := *s.Attachments["f1.bin"]
	muts := []Mutation{
		{Op: OpDepose, Deposed: &Deposed{Address: "f1.bin", ID: old.ID, Filename: old.Filename, Size: old.Size, Since: old.UploadedAt}},
		{Op: OpActivate, Address: "f1.bin", Attachment: &Attachment{ID: 900, Blake3: testHash, UploadedAt: old.UploadedAt}},
	}
	for _, m := range muts {
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Append(context.Background(), s, muts); err != nil {
		t.Fatal(err)
	}
	lines := journalLines(t, f)
	writeJournal(t, f, lines[:len(lines)-2]) // the activation line lost, the depose kept
	got, err := loadFresh(t, f)
	if err != nil {
		t.Fatalf("Load with half a batch: %v", err)
	}
	if encoded(t, got) != before {
		t.Errorf("half a batch was replayed:\n%s", encoded(t, got))
	}
}

func TestJournalDamageRefused(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, f *File, lines [][]byte) [][]byte
		want   string
	}{
		{"bad checksum mid-file", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			lines[1] = bytes.Replace(lines[1], []byte(`"f1.bin"`), []byte(`"f9.bin"`), 1)
			return lines
		}, `s.json.journal:2:1: state journal is corrupt: checksum`},
		{"torn line mid-file", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			lines[0] = lines[0][:20]
			return lines
		}, `s.json.journal:1:1: state journal is corrupt: line does not parse`},
		{"another lineage", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			other, _ := journaled(t, 1)
			return journalLines(t, other)
		}, `s.json.journal:1:1: state journal is corrupt: entry of lineage `},
		{"serial gap", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			return slices.Delete(lines, 1, 2)
		}, `s.json.journal:2:1: state journal is corrupt: serial 5 follows serial 3`},
		{"newer than a state restored from backup", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			// The backup holds the state before the last whole write.
			if err := os.Rename(f.Path()+".backup", f.Path()); err != nil {
				t.Fatal(err)
			}
			return lines
		}, `s.json.journal:1:1: state journal is corrupt: the journal continues from serial 2, but the state file is at serial 1: the state file is older than its journal (restored from a backup?)`},
		{"a step that does not apply", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			return [][]byte{forgedLine(t, f, Mutation{Op: OpMove, PreviousAddress: "nope", Address: "x"})}
		}, `s.json.journal:1:1: state journal is corrupt: state: cannot move "nope": it has no attachment`},
		{"unknown step", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			return [][]byte{forgedLine(t, f, Mutation{Op: "teleport", Address: "x"})}
		}, `s.json.journal:1:1: state journal is corrupt: state: malformed "teleport" mutation`},
		{"duplicate Desk ID after replay", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			return [][]byte{forgedLine(t, f, Mutation{Op: OpSetPending, Address: "x", Pending: &Pending{ID: 123, Blake3: testHash}})}
		}, `s.json.journal: state journal is corrupt: after replaying it: state file is corrupt: pending["x"].id: Desk file 123 is also recorded as attachments["images/logo.png"]`},
		{"no state file", func(t *testing.T, f *File, lines [][]byte) [][]byte {
			os.Remove(f.Path())
			return lines
		}, `s.json.journal: state journal is corrupt: the journal continues a state file that does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := journaled(t, 2)
			writeJournal(t, f, tt.damage(t, f, journalLines(t, f)))
			journal := mustRead(t, f.JournalPath())
			stateFile, _ := os.ReadFile(f.Path())
			g := NewFile(f.Path())
			_, err := g.Load(context.Background())
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want a *CorruptError containing %q", err, tt.want)
			}
			if h := hint.Of(err); len(h) != 1 || !strings.Contains(h[0], "restore both") {
				t.Errorf("hint = %q", h)
			}
			// Refused like a corrupt state: nothing writes over the evidence.
			s := testState(t)
			for name, write := range map[string]func() error{
				"Save":    func() error { return g.Save(context.Background(), s) },
				"Compact": func() error { return g.Compact(context.Background(), s) },
				"Append":  func() error { return g.Append(context.Background(), s, []Mutation{{Op: OpForget, Address: "a"}}) },
			} {
				if err := write(); !errors.As(err, &ce) {
					t.Errorf("%s over a damaged journal = %v, want it refused", name, err)
				}
			}
			if got := mustRead(t, f.JournalPath()); !bytes.Equal(got, journal) {
				t.Errorf("journal changed")
			}
			if got, _ := os.ReadFile(f.Path()); !bytes.Equal(got, stateFile) {
				t.Errorf("state file changed")
			}
		})
	}
}

// forgedLine is a well-formed journal line of f's lineage recording m as the step after
// the state file's, made by appending m without applying it.
func forgedLine(t *testing.T, f *File, m Mutation) []byte {
	t.Helper()
	s, err := Decode(mustRead(t, f.Path()))
	if err != nil {
		t.Fatal(err)
	}
	g := &File{path: filepath.Join(t.TempDir(), "x.json"), checked: true}
	g.disk = onDisk{exists: true, lineage: s.Lineage, serial: s.Serial, fileSize: 1 << 20}
	if err := g.Append(context.Background(), s, []Mutation{m}); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, g.JournalPath())
}

// A compaction killed after its rename but before the journal was removed leaves a
// journal whose steps the file already holds: they are not replayed twice.
func TestJournalReplayIsIdempotent(t *testing.T) {
	f, s := journaled(t, 2)
	f.hook = func(step string) error {
		if step == stepJournalRemove {
			return errors.New("killed")
		}
		return nil
	}
	if err := f.Compact(context.Background(), s); err == nil {
		t.Fatal("Compact did not fail at the journal's removal")
	}
	if _, err := os.Stat(f.JournalPath()); err != nil {
		t.Fatalf("journal gone: %v", err)
	}
	for range 2 {
		got, err := loadFresh(t, f)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if encoded(t, got) != encoded(t, s) {
			t.Fatalf("Load replayed the compacted steps again:\n%s\nwant\n%s", encoded(t, got), encoded(t, s))
		}
	}
	// And appending after that journal works: its stale steps are not mistaken for a gap.
	g := NewFile(f.Path())
	got, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	appendUpload(t, g, got, 3)
	again, err := loadFresh(t, g)
	if err != nil || encoded(t, again) != encoded(t, got) {
		t.Fatalf("Load after appending to a stale journal = %v\n%s", err, encoded(t, again))
	}
}

// After Save and Compact the state is one plain file; a Compact with nothing to write
// writes nothing.
func TestJournalGoneAfterSaveAndCompact(t *testing.T) {
	for _, name := range []string{"Save", "Compact"} {
		t.Run(name, func(t *testing.T) {
			f, s := journaled(t, 2)
			var err error
			if name == "Save" {
				err = f.Save(context.Background(), s)
			} else {
				err = f.Compact(context.Background(), s)
			}
			if err != nil {
				t.Fatal(err)
			}
			if names := dirNames(t, filepath.Dir(f.Path())); !slices.Equal(names, []string{"s.json", "s.json.backup"}) {
				t.Errorf("folder holds %q", names)
			}
			onFile, err := Decode(mustRead(t, f.Path()))
			if err != nil || encoded(t, onFile) != encoded(t, s) {
				t.Errorf("state file after %s:\n%s\nwant\n%s", name, encoded(t, onFile), encoded(t, s))
			}
			before, _ := os.Stat(f.Path())
			if err := f.Compact(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.Stat(f.Path()); !os.SameFile(before, after) {
				t.Errorf("a Compact with nothing new rewrote the file")
			}
		})
	}
}

// The journal never grows much past the state file: Append compacts once it is larger.
func TestJournalCompactsWhenItOutgrowsTheFile(t *testing.T) {
	f, s := journaled(t, 0)
	for i := 1; i <= 200; i++ {
		appendUpload(t, f, s, i)
		fi, err := os.Stat(f.Path())
		if err != nil {
			t.Fatal(err)
		}
		ji, err := os.Stat(f.JournalPath())
		if err == nil && ji.Size() > fi.Size() {
			t.Fatalf("after upload %d the journal has %d bytes, the state file %d", i, ji.Size(), fi.Size())
		}
	}
	got, err := loadFresh(t, f)
	if err != nil || encoded(t, got) != encoded(t, s) {
		t.Fatalf("Load = %v\n%s\nwant\n%s", err, encoded(t, got), encoded(t, s))
	}
}

// A failed append is not recorded; the next one replaces whatever it left.
func TestJournalFailedAppend(t *testing.T) {
	for _, step := range []string{stepJournalWrite, stepJournalTorn, stepJournalSync} {
		t.Run(step, func(t *testing.T) {
			f, s := journaled(t, 1)
			want := encoded(t, s)
			f.hook = func(name string) error {
				if name == step {
					return errors.New("disk on fire")
				}
				return nil
			}
			m := Mutation{Op: OpForget, Address: "f1.bin"}
			c := s.Clone()
			if err := c.Apply(m); err != nil {
				t.Fatal(err)
			}
			if err := f.Append(context.Background(), c, []Mutation{m}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("Append = %v, want the step's error", err)
			}
			if c.Serial != s.Serial {
				t.Errorf("a failed Append bumped the serial to %d", c.Serial)
			}
			if got, err := loadFresh(t, f); err != nil || (step != stepJournalSync && encoded(t, got) != want) {
				t.Errorf("Load after a failed append = %v\n%s", err, encoded(t, got))
			}
			f.hook = nil
			appendUpload(t, f, s, 2)
			if got, err := loadFresh(t, f); err != nil || encoded(t, got) != encoded(t, s) {
				t.Errorf("Load after the next append = %v\n%s\nwant\n%s", err, encoded(t, got), encoded(t, s))
			}
		})
	}
}

// plan and state list read without the lock while apply appends and compacts: a reader
// must never take a compaction under way for damage.
func TestJournalReadDuringWrites(t *testing.T) {
	f, s := journaled(t, 0)
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		r := NewFile(f.Path())
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := r.Load(context.Background()); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := 1; i <= 150; i++ {
		appendUpload(t, f, s, i)
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatalf("a reader failed while the state was written: %v", err)
	}
}

// FuzzJournal feeds Load arbitrary journals beside a valid state file: it never panics,
// and whatever it accepts is a valid state that takes further appends.
func FuzzJournal(f *testing.F) {
	seedFile, _ := journaled(f, 0)
	base := mustRead(f, seedFile.Path())
	for _, n := range []int{1, 2} {
		g, _ := journaled(f, n)
		lines := mustRead(f, g.JournalPath())
		// Journals of other lineages: rewritten to this one's, so seeds reach replay.
		other, _ := Decode(mustRead(f, g.Path()))
		mine, _ := Decode(base)
		f.Add(bytes.ReplaceAll(lines, []byte(other.Lineage), []byte(mine.Lineage)))
		f.Add(lines)
	}
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"entry":{"batch":3,"lineage":"x","mutation":{"op":"forget","address":"a"},"serial":3},"sum":"00000000"}` + "\n"))
	f.Add([]byte("\n\n\x00\xff"))
	f.Fuzz(func(t *testing.T, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "s.json")
		if err := os.WriteFile(path, base, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".journal", journal, 0o644); err != nil {
			t.Fatal(err)
		}
		file := NewFile(path)
		s, err := file.Load(context.Background())
		if err != nil {
			if s != nil {
				t.Fatalf("Load returned a state and %v", err)
			}
			return
		}
		if _, err := s.Encode(); err != nil {
			t.Fatalf("Load accepted a state Encode refuses: %v", err)
		}
		m := Mutation{Op: OpForget, Address: "images/logo.png"}
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
		if err := file.Append(context.Background(), s, []Mutation{m}); err != nil {
			t.Fatalf("Append after an accepted journal: %v", err)
		}
		again, err := NewFile(path).Load(context.Background())
		if err != nil || encoded(t, again) != encoded(t, s) {
			t.Fatalf("Load after Append = %v", err)
		}
	})
}

// The backup stays one step behind the state, as when every step was a whole save, so that
// restoring it leaves the next apply one step to resolve: Compact keeps the state before
// the last batch, Save the state before itself, and so does a compaction inside Append.
func TestBackupIsOneStepBehind(t *testing.T) {
	backup := func(t *testing.T, f *File) string {
		t.Helper()
		s, err := Decode(mustRead(t, f.Path()+".backup"))
		if err != nil {
			t.Fatal(err)
		}
		return encoded(t, s)
	}
	t.Run("Compact", func(t *testing.T) {
		f, s := journaled(t, 1)
		before := encoded(t, s)
		appendUpload(t, f, s, 2) // two batches: pending, then activation
		if err := f.Compact(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		s.Forget("f2.bin")
		s.SetPending("f2.bin", Pending{ID: 502, Blake3: testHash, Filename: "f2.bin", Size: 3, StartedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)})
		s.Serial--
		if got, want := backup(t, f), encoded(t, s); got != want {
			t.Errorf("backup after Compact\n%s\nwant the state before the last step\n%s\n(not %s)", got, want, before)
		}
	})
	t.Run("Save", func(t *testing.T) {
		f, s := journaled(t, 2)
		want := encoded(t, s)
		s.Forget("f1.bin")
		if err := f.Save(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if got := backup(t, f); got != want {
			t.Errorf("backup after Save\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("Append", func(t *testing.T) {
		f, s := journaled(t, 0)
		for i := 1; ; i++ {
			want := encoded(t, s)
			appendUpload(t, f, s, i)
			if _, err := os.Stat(f.JournalPath()); errors.Is(err, os.ErrNotExist) {
				// The activation's Append compacted: the backup holds the state before it.
				s2, err := Decode([]byte(want))
				if err != nil {
					t.Fatal(err)
				}
				s2.SetPending(fmt.Sprintf("f%d.bin", i), *s.Attachments[fmt.Sprintf("f%d.bin", i)].pendingOf())
				s2.Serial++
				if got := backup(t, f); got != encoded(t, s2) {
					t.Errorf("backup after a compacting Append\n%s\nwant\n%s", got, encoded(t, s2))
				}
				return
			}
			if i > 100 {
				t.Fatal("no Append compacted")
			}
		}
	})
}

// pendingOf is the pending record appendUpload made for a.
func (a *Attachment) pendingOf() *Pending {
	return &Pending{ID: a.ID, Blake3: a.Blake3, Filename: a.Filename, Size: a.Size, StartedAt: a.UploadedAt}
}

// A journal is only ever left by a run that died. The next writer folds it in when it
// loads the state under its lock, so a command that then finds nothing to do (and so
// never compacts) still leaves one plain file; a reader without the lock leaves it alone.
func TestLoadUnderLockCompactsJournal(t *testing.T) {
	f, s := journaled(t, 2)
	want := encoded(t, s)
	reader := NewFile(f.Path())
	if got, err := reader.Load(context.Background()); err != nil || encoded(t, got) != want {
		t.Fatalf("Load = %v", err)
	}
	if _, err := os.Stat(f.JournalPath()); err != nil {
		t.Fatalf("a Load without the lock removed the journal: %v", err)
	}
	writer := NewFile(f.Path())
	id, err := writer.Lock(context.Background(), LockInfo{Operation: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := writer.Load(context.Background())
	if err != nil || encoded(t, got) != want {
		t.Fatalf("Load under the lock = %v\n%s", err, encoded(t, got))
	}
	if names := dirNames(t, filepath.Dir(f.Path())); !slices.Equal(names, []string{"s.json", "s.json.backup", "s.json.lock"}) {
		t.Errorf("after a Load under the lock the folder holds %q", names)
	}
	if onFile, err := Decode(mustRead(t, f.Path())); err != nil || encoded(t, onFile) != want {
		t.Errorf("state file after the compacting Load: %v", err)
	}
	if err := writer.Unlock(id); err != nil {
		t.Fatal(err)
	}
}

// A compaction inside Append that fails does not fail the Append, whose steps are in the
// journal already; the next Append compacts.
func TestJournalCompactionFailureInsideAppend(t *testing.T) {
	f, s := journaled(t, 0)
	f.hook = func(step string) error {
		if step == stepRename {
			return errors.New("disk on fire")
		}
		return nil
	}
	for i := 1; ; i++ {
		appendUpload(t, f, s, i) // fails the test if an Append fails
		if f.disk.journalLen > f.disk.fileSize {
			break // a compaction was due and failed
		}
		if i > 100 {
			t.Fatal("the journal never outgrew the file")
		}
	}
	if got, err := loadFresh(t, f); err != nil || encoded(t, got) != encoded(t, s) {
		t.Fatalf("Load after a failed compaction = %v", err)
	}
	f.hook = nil
	m := Mutation{Op: OpForget, Address: "f1.bin"}
	if err := s.Apply(m); err != nil {
		t.Fatal(err)
	}
	if err := f.Append(context.Background(), s, []Mutation{m}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.JournalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the next Append did not compact: %v", err)
	}
	if got, err := loadFresh(t, f); err != nil || encoded(t, got) != encoded(t, s) {
		t.Fatalf("Load after the compaction = %v", err)
	}
}
