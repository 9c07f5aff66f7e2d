package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// journalLine is one line of <path>.journal: an entry and the CRC-32C of its bytes as
// written, so that a line cut short or damaged is told apart from a step.
type journalLine struct {
	Entry jsontext.Value `json:"entry"`
	Sum   string         `json:"sum"`
}

// journalEntry is one mutation. Batch is the serial of the last entry of the Append that
// wrote it: a batch is replayed whole or not at all, so that the steps apply makes
// together (depose the old file, activate the new one) are never seen apart.
type journalEntry struct {
	Batch    int64    `json:"batch"`
	Lineage  string   `json:"lineage"`
	Mutation Mutation `json:"mutation"`
	Serial   int64    `json:"serial"`
}

// Append makes muts durable by appending them to the journal and fsyncing it; s already
// has them applied, and s.Serial grows by len(muts) once they are on disk. A journal
// continues the state file on disk, so when there is none, or it is not s's predecessor,
// s is written whole instead. Once the journal outgrows the state file it is compacted,
// so that loading stays cheap and the bytes written grow linearly with the steps.
func (f *File) Append(ctx context.Context, s *State, muts []Mutation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil {
		return errors.New("saving state: no state given")
	}
	if len(muts) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	d := f.disk
	if !d.exists || d.lineage != s.Lineage || d.serial != s.Serial {
		return f.writeWhole(s, int64(len(muts)))
	}
	var buf bytes.Buffer
	last := s.Serial + int64(len(muts))
	if s.Serial > MaxSerial-int64(len(muts)) {
		// A step past MaxSerial would make the state unloadable; apply checks before its
		// first Desk request that a run stays below it, so this is the last line.
		return fmt.Errorf("saving state to %s: serial %d plus %d steps passes %d, the largest serial desksync reads; nothing was written", f.JournalPath(), s.Serial, len(muts), int64(MaxSerial))
	}
	for i, m := range muts {
		// A step that would not replay must not reach the journal, where it would make
		// the state unloadable.
		if err := m.check(); err != nil {
			return fmt.Errorf("saving state to %s: %w", f.JournalPath(), err)
		}
		entry, err := json.Marshal(journalEntry{Batch: last, Lineage: s.Lineage, Mutation: m, Serial: s.Serial + 1 + int64(i)},
			jsontext.AllowInvalidUTF8(true))
		if err != nil {
			return fmt.Errorf("saving state to %s: %w", f.JournalPath(), err)
		}
		line, err := json.Marshal(journalLine{Entry: entry, Sum: checksum(entry)})
		if err != nil {
			return fmt.Errorf("saving state to %s: %w", f.JournalPath(), err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := f.appendJournal(buf.Bytes()); err != nil {
		return fmt.Errorf("saving state to %s (the previous state is intact): %w", f.JournalPath(), err)
	}
	s.Serial = last
	f.disk.serial = last
	if f.disk.journalLen > f.disk.fileSize {
		// The steps are durable already; a compaction that fails is tried again by the
		// next Append, and Compact reports it.
		_ = f.writeWhole(s, 0)
	}
	return nil
}

func checksum(b []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// appendJournal writes data after the journal's last whole batch, dropping a torn tail
// first, and fsyncs it (and, when it creates the journal, the folder). f.mu must be held.
func (f *File) appendJournal(data []byte) (err error) {
	d := &f.disk
	fh, err := os.OpenFile(f.JournalPath(), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			d.journalEnd = -1 // a write may have been cut short: truncate before the next
		}
	}()
	created := d.journalEnd <= 0 // the folder entry may not be durable yet
	if d.journalEnd != d.journalLen {
		if err := fh.Truncate(d.journalLen); err != nil {
			return err
		}
	}
	if err := f.step(stepJournalWrite); err != nil {
		return err
	}
	half := len(data)
	if f.hook != nil {
		half /= 2 // so that a kill can land inside an append
	}
	if _, err := fh.WriteAt(data[:half], d.journalLen); err != nil {
		return err
	}
	if err := f.step(stepJournalTorn); err != nil {
		return err
	}
	if _, err := fh.WriteAt(data[half:], d.journalLen+int64(half)); err != nil {
		return err
	}
	if err := f.step(stepJournalSync); err != nil {
		return err
	}
	if err := fh.Sync(); err != nil {
		return err
	}
	if created {
		if err := syncDir(filepath.Dir(f.path)); err != nil {
			return err
		}
	}
	d.lastBatch = d.journalLen
	d.journalLen += int64(len(data))
	d.journalEnd = d.journalLen
	return nil
}

// replay reads the journal and applies it to s (see replayJournal). f.mu must be held.
func (f *File) replay(s *State) error {
	data, err := readCapped(f.JournalPath(), 2*MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the state journal: %w", err)
	}
	f.disk.journalEnd = int64(len(data))
	whole, last, err := replayJournal(s, data)
	f.disk.journalLen, f.disk.lastBatch = int64(whole), int64(last)
	if err != nil {
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			ce.Path, ce.Journal = f.JournalPath(), true
		}
		return err
	}
	return nil
}

// replayJournal applies the whole batches of journal newer than s.Serial to s and
// returns the length of those batches and the offset where the last of them starts. A
// last line cut short, and a last batch missing lines, are what a kill in the middle of
// an append leaves: they are ignored (and dropped by the next Append). Anything else that
// does not fit is refused, since replaying around it would lose or invent steps.
func replayJournal(s *State, journal []byte) (whole, lastBatch int, err error) {
	bad := func(n int, msg string) error { return &CorruptError{Line: n, Column: min(n, 1), Msg: msg} }
	base := s.Serial
	var batch []Mutation
	prev, batchEnd, batchStart := int64(-1), int64(-1), 0
	for n, off := 1, 0; off < len(journal); n++ {
		end := len(journal)
		if i := bytes.IndexByte(journal[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		e, err := parseJournalLine(journal[off:end])
		if err != nil {
			if end == len(journal) {
				break // torn by a kill
			}
			return whole, lastBatch, bad(n, err.Error())
		}
		switch {
		case e.Serial > MaxSerial || e.Batch > MaxSerial:
			return whole, lastBatch, bad(n, fmt.Sprintf("serial %d (batch %d) is above %d (2^53), the largest serial desksync reads: no run writes one this large", e.Serial, e.Batch, int64(MaxSerial)))
		case e.Lineage != s.Lineage:
			return whole, lastBatch, bad(n, fmt.Sprintf("entry of lineage %s, but the state file is lineage %s: the journal belongs to another state", e.Lineage, s.Lineage))
		case prev >= 0 && e.Serial != prev+1:
			return whole, lastBatch, bad(n, fmt.Sprintf("serial %d follows serial %d", e.Serial, prev))
		case e.Batch < e.Serial || batchEnd >= 0 && e.Batch != batchEnd:
			return whole, lastBatch, bad(n, fmt.Sprintf("serial %d claims to end its batch at %d", e.Serial, e.Batch))
		case e.Serial > base && e.Serial != s.Serial+1+int64(len(batch)):
			return whole, lastBatch, bad(n, fmt.Sprintf("the journal continues from serial %d, but the state file is at serial %d: the state file is older than its journal (restored from a backup?)",
				e.Serial-1, s.Serial))
		}
		if batchEnd < 0 {
			batchStart = off
		}
		off = end
		prev, batchEnd = e.Serial, e.Batch
		if e.Serial > base {
			batch = append(batch, e.Mutation)
		}
		if e.Serial == e.Batch {
			for _, m := range batch {
				if err := s.Apply(m); err != nil {
					return whole, lastBatch, bad(n, err.Error())
				}
			}
			s.Serial += int64(len(batch))
			batch, batchEnd = nil, -1
			whole, lastBatch = off, batchStart
		}
	}
	if err := s.validate(); err != nil {
		return whole, lastBatch, bad(0, "after replaying it: "+err.Error())
	}
	return whole, lastBatch, nil
}

// previous returns the state as it was before the last step recorded on disk: the file
// with the journal up to cut (bytes of whole batches) replayed, encoded. f.mu must be held.
func (f *File) previous(cut int64) ([]byte, error) {
	data, err := readCapped(f.path, MaxSize)
	if err != nil {
		return nil, err
	}
	s, err := Decode(data)
	if err != nil {
		return nil, err
	}
	journal, err := readCapped(f.JournalPath(), 2*MaxSize)
	if err != nil {
		return nil, err
	}
	if _, _, err := replayJournal(s, journal[:min(cut, int64(len(journal)))]); err != nil {
		return nil, err
	}
	return s.Encode()
}

// parseJournalLine decodes one line, newline included, checking its checksum.
func parseJournalLine(raw []byte) (*journalEntry, error) {
	if !bytes.HasSuffix(raw, []byte{'\n'}) {
		return nil, errors.New("line is cut short")
	}
	var l journalLine
	if err := json.Unmarshal(raw, &l, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("line does not parse: %v", err)
	}
	if got := checksum(l.Entry); got != l.Sum {
		return nil, fmt.Errorf("checksum %s does not match the entry's (%s): the line is damaged", l.Sum, got)
	}
	var e journalEntry
	if err := json.Unmarshal(l.Entry, &e, json.RejectUnknownMembers(true), jsontext.AllowInvalidUTF8(true)); err != nil {
		return nil, fmt.Errorf("entry does not parse: %v", err)
	}
	return &e, nil
}

// journalError is a *CorruptError at line n of the journal (0: the journal as a whole).
func (f *File) journalError(n int, msg string) error {
	return &CorruptError{Path: f.JournalPath(), Journal: true, Line: n, Column: min(n, 1), Msg: msg}
}
