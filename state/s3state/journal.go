package s3state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/desksync/desksync/state"
)

// maxJournalObject caps one journal object: one Append's mutations.
const maxJournalObject = 16 << 20

// entry is one line of a journal object: a mutation and the serial it brings the state to.
type entry struct {
	Lineage  string         `json:"lineage"`
	Serial   int64          `json:"serial"`
	Mutation state.Mutation `json:"mutation"`
	line     int            // where it was read, for errors
}

// parseJournal decodes a journal object, one entry per line; obj names it in errors.
func parseJournal(data []byte, obj string) ([]entry, error) {
	var entries []entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	for line := 1; dec.More(); line++ {
		e := entry{line: line}
		if err := dec.Decode(&e); err != nil {
			return nil, &state.CorruptError{Path: obj, Line: line, Msg: "journal: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		if e.Serial <= 0 {
			return nil, &state.CorruptError{Path: obj, Line: line, Msg: fmt.Sprintf("journal: serial %d is not positive", e.Serial)}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func (s *Store) journalPrefix() string { return s.key + ".journal/" }

// journalKey names the object holding the steps from serial first on; the zero padding
// makes listing order serial order.
func (s *Store) journalKey(first int64) string {
	return fmt.Sprintf("%s%020d", s.journalPrefix(), first)
}

// Append records muts as one journal object, created with If-None-Match: * (a second
// writer at the same serial is refused), then checks that KEY is still the version this
// Store read. st already has muts applied; st.Serial is bumped once per mutation when the
// step is recorded. With no state object yet, it writes st whole instead.
func (s *Store) Append(ctx context.Context, st *state.State, muts []state.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepareWrite(ctx); err != nil {
		return err
	}
	if s.etag == "" {
		next := *st
		next.Serial += int64(len(muts))
		if err := s.writeWhole(ctx, &next); err != nil {
			return err
		}
		st.Serial = next.Serial
		return nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i, m := range muts {
		if err := enc.Encode(entry{Lineage: st.Lineage, Serial: st.Serial + 1 + int64(i), Mutation: m}); err != nil {
			return fmt.Errorf("recording a step in %s: %w", s.url, err)
		}
	}
	key := s.journalKey(st.Serial + 1)
	data := body.Bytes()
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-ndjson"), IfNoneMatch: aws.String("*")})
	if isPrecondition(err) {
		// A retried PUT whose first attempt got through is refused too: it is ours.
		if cur, _, gerr := s.get(ctx, key, maxJournalObject); gerr != nil || !bytes.Equal(cur, data) {
			return &ConcurrentWriteError{URL: s.url, Object: "s3://" + s.bucket + "/" + key}
		}
	} else if err != nil {
		return s.describe("recording a step in the journal", err)
	}
	s.journal = append(s.journal, key)
	s.stored = nil
	_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &s.key, IfMatch: &s.etag})
	if isPrecondition(err) || isNotFound(err) {
		return &ConcurrentWriteError{URL: s.url, Object: s.url}
	}
	if err != nil {
		return s.describe("checking the state after recording a step", err)
	}
	st.Serial += int64(len(muts))
	return nil
}

// replay applies the journal objects to st, which KEY holds, and returns their keys.
//
// Steps at or below st's serial are normally left over from a write that replaced KEY and
// was cut short before it removed them; they are skipped when st already includes them.
// When it does not, another writer replaced KEY while a run was recording steps, and
// skipping them would forget Desk files that run made: Load refuses, naming the object,
// and leaves it for a person to resolve. A gap, another lineage or a step that does not
// apply is refused as a corrupt state.
func (s *Store) replay(ctx context.Context, st *state.State, etag string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.journalPrefix())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.describe("listing the journal", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	base := st.Clone()
	var behind []string // the objects holding steps at or below base's serial
	absorbed := base.Clone()
	for _, key := range keys {
		obj := "s3://" + s.bucket + "/" + key
		data, _, err := s.get(ctx, key, maxJournalObject)
		if isNotFound(err) {
			// Removed since the listing, which only a compaction does, after writing
			// KEY. If KEY is still the version read, that version holds its steps;
			// otherwise load reads again.
			head, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &s.key})
			if herr == nil && aws.ToString(head.ETag) == etag {
				continue
			}
			return nil, fmt.Errorf("%s: journal object %s vanished while being read", s.url, obj)
		}
		if err != nil {
			return nil, s.describe("reading the journal", err)
		}
		entries, err := parseJournal(data, obj)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			bad := func(format string, args ...any) error {
				return &state.CorruptError{Path: obj, Line: e.line, Msg: "journal: " + fmt.Sprintf(format, args...)}
			}
			target := st
			switch {
			case e.Lineage != st.Lineage:
				return nil, bad("lineage %q is not the state's %q", e.Lineage, st.Lineage)
			case e.Serial <= base.Serial:
				target = absorbed
				if !slices.Contains(behind, obj) {
					behind = append(behind, obj)
				}
			case e.Serial != st.Serial+1:
				return nil, bad("step %d follows serial %d: steps are missing", e.Serial, st.Serial)
			}
			if err := target.Apply(e.Mutation); err != nil {
				return nil, bad("step %d: %v", e.Serial, err)
			}
			if target == st {
				st.Serial = e.Serial
			}
		}
	}
	if len(behind) > 0 && !sameRecords(base, absorbed) {
		return nil, &UnmergedError{URL: s.url, Objects: behind, Serial: base.Serial}
	}
	if _, err := st.Encode(); err != nil {
		return nil, fmt.Errorf("%s: the journal leaves an invalid state: %w", s.url, err)
	}
	return keys, nil
}

// sameRecords reports whether a and b record the same files (deposed files compared as a
// set: replaying a depose appends it again).
func sameRecords(a, b *state.State) bool {
	norm := func(s *state.State) []byte {
		c := s.Clone()
		c.Serial = 0
		c.Deposed = slices.CompactFunc(slices.SortedFunc(slices.Values(c.Deposed), func(x, y state.Deposed) int {
			return cmp.Compare(x.ID, y.ID)
		}), func(x, y state.Deposed) bool { return x.ID == y.ID })
		if len(c.Deposed) == 0 {
			c.Deposed = nil
		}
		data, _ := c.Encode()
		return data
	}
	return bytes.Equal(norm(a), norm(b))
}
