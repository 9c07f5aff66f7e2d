package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const mergeLineage = "11111111-2222-4333-8444-555555555555"

var mergeAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// ms builds a state for the merge tests from "addr=id" (attachment), "addr=id~name"
// (attachment with another filename), "pending:addr=id" and "deposed:addr=id" terms.
func ms(serial int64, terms ...string) *State {
	s := &State{Version: Version, Lineage: mergeLineage, Serial: serial, Site: "https://x.teamwork.com", Attachments: map[string]*Attachment{}}
	for _, term := range terms {
		kind, rest, ok := strings.Cut(term, ":")
		if !ok {
			kind, rest = "att", term
		}
		addr, idName, _ := strings.Cut(rest, "=")
		idStr, name, _ := strings.Cut(idName, "~")
		var id int64
		fmt.Sscan(idStr, &id)
		if name == "" {
			name = addr
		}
		hash := fmt.Sprintf("%064x", id)
		switch kind {
		case "att":
			s.Attachments[addr] = &Attachment{ID: id, Filename: name, MimeType: "text/plain", Disposition: "attachment",
				Type: "attachment", Size: id * 10, Blake3: hash, State: "active", UploadedAt: mergeAt}
		case "pending":
			s.SetPending(addr, Pending{ID: id, Blake3: hash, Filename: name, Size: id * 10, StartedAt: mergeAt})
		case "deposed":
			s.Deposed = append(s.Deposed, Deposed{Address: addr, ID: id, Filename: name, Size: id * 10, Since: mergeAt})
		default:
			panic(term)
		}
	}
	return s
}

// terms describes s the way ms builds it, sorted, so that a test compares one string.
func terms(s *State) string {
	var out []string
	for addr, a := range s.Attachments {
		t := fmt.Sprintf("%s=%d", addr, a.ID)
		if a.Filename != addr {
			t += "~" + a.Filename
		}
		out = append(out, t)
	}
	for addr, p := range s.Pending {
		out = append(out, fmt.Sprintf("pending:%s=%d", addr, p.ID))
	}
	for _, d := range s.Deposed {
		out = append(out, fmt.Sprintf("deposed:%s=%d", d.Address, d.ID))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name               string
		base, ours, theirs *State
		want               string
		wantSerial         int64
		wantNote           string // a substring of one note, when the merge had to choose
	}{
		{
			name:       "each side added files",
			base:       ms(3, "a=1"),
			ours:       ms(5, "a=1", "b=2"),
			theirs:     ms(4, "a=1", "c=3"),
			want:       "a=1 b=2 c=3",
			wantSerial: 6,
		},
		{
			name:   "theirs replaced, ours untouched",
			base:   ms(3, "a=1", "b=2"),
			ours:   ms(4, "a=1", "b=2", "c=3"),
			theirs: ms(9, "a=7", "b=2"),
			want:   "a=7 b=2 c=3", wantSerial: 10,
		},
		{
			name:   "ours replaced, theirs untouched",
			base:   ms(3, "a=1"),
			ours:   ms(4, "a=7"),
			theirs: ms(4, "a=1", "z=9"),
			want:   "a=7 z=9", wantSerial: 5,
		},
		{
			name:   "theirs deleted, ours untouched",
			base:   ms(3, "a=1", "b=2"),
			ours:   ms(3, "a=1", "b=2"),
			theirs: ms(4, "a=1"),
			want:   "a=1", wantSerial: 5,
		},
		{
			name:   "ours deleted, theirs untouched",
			base:   ms(3, "a=1", "b=2"),
			ours:   ms(4, "a=1"),
			theirs: ms(4, "a=1", "b=2", "c=3"),
			want:   "a=1 c=3", wantSerial: 5,
		},
		{
			name:   "both made the same change",
			base:   ms(3, "a=1"),
			ours:   ms(4, "a=7"),
			theirs: ms(4, "a=7"),
			want:   "a=7", wantSerial: 5,
		},
		{
			name:     "both uploaded a different file for one address",
			base:     ms(3, "a=1"),
			ours:     ms(5, "a=7", "deposed:a=1"),
			theirs:   ms(4, "a=8"),
			want:     "a=7 deposed:a=1 deposed:a=8",
			wantNote: "kept OURS's Desk file 7, deposed THEIRS's 8",
		},
		{
			name:     "both added one address with different files",
			base:     ms(3),
			ours:     ms(4, "n=7"),
			theirs:   ms(4, "n=8"),
			want:     "deposed:n=8 n=7",
			wantNote: "deposed THEIRS's 8",
		},
		{
			name:     "both renamed one file differently",
			base:     ms(3, "a=1"),
			ours:     ms(4, "a=1~ours.txt"),
			theirs:   ms(4, "a=1~theirs.txt"),
			want:     "a=1~ours.txt",
			wantNote: "both sides changed Desk file 1",
		},
		{
			name:     "ours deleted, theirs replaced",
			base:     ms(3, "a=1"),
			ours:     ms(4),
			theirs:   ms(4, "a=8"),
			want:     "deposed:a=8",
			wantNote: "OURS removed it, THEIRS uploaded Desk file 8",
		},
		{
			name:     "ours forgot, theirs renamed the same file",
			base:     ms(3, "a=1"),
			ours:     ms(4),
			theirs:   ms(4, "a=1~new.txt"),
			want:     "",
			wantNote: "left removed",
		},
		{
			name:   "ours replaced, theirs deleted",
			base:   ms(3, "a=1"),
			ours:   ms(4, "a=7"),
			theirs: ms(4),
			want:   "a=7",
		},
		{
			name:     "both moved one file to different addresses",
			base:     ms(3, "a=1", "k=2"),
			ours:     ms(4, "b=1", "k=2"),
			theirs:   ms(4, "c=1", "k=2"),
			want:     "b=1 k=2",
			wantNote: "c: dropped THEIRS's attachment record of Desk file 1, which OURS keeps as attachment b",
		},
		{
			name:     "ours deleted a file theirs moved",
			base:     ms(3, "a=1"),
			ours:     ms(4),
			theirs:   ms(4, "c=1"),
			want:     "",
			wantNote: "which OURS removed",
		},
		{
			name:   "ours moved a file theirs left alone",
			base:   ms(3, "a=1"),
			ours:   ms(4, "b=1"),
			theirs: ms(4, "a=1", "x=5"),
			want:   "b=1 x=5",
		},
		{
			name:   "pending: union, and what one side resolved stays resolved",
			base:   ms(3, "pending:p=4", "pending:q=5"),
			ours:   ms(4, "p=4", "pending:q=5", "pending:r=6"),
			theirs: ms(4, "pending:p=4", "pending:s=8"),
			want:   "p=4 pending:r=6 pending:s=8",
		},
		{
			name:     "pending: two interrupted uploads for one address",
			base:     ms(3),
			ours:     ms(4, "pending:p=4"),
			theirs:   ms(4, "pending:p=9"),
			want:     "deposed:p=9 pending:p=4",
			wantNote: "deposed THEIRS's 9",
		},
		{
			name:   "deposed: union, and one deleted on either side stays deleted",
			base:   ms(3, "deposed:d=1", "deposed:e=2"),
			ours:   ms(4, "deposed:e=2", "deposed:f=3"),
			theirs: ms(4, "deposed:d=1", "deposed:g=4"),
			want:   "deposed:f=3 deposed:g=4",
		},
		{
			name:     "theirs deposed a file ours still has",
			base:     ms(3, "a=1"),
			ours:     ms(4, "b=1"),
			theirs:   ms(4, "a=2", "deposed:a=1"),
			want:     "b=1 deposed:a=2", // ours moved a away, so theirs's new a is deposed
			wantNote: "deposed record of Desk file 1",
		},
		{
			name:     "theirs removed a file ours holds and deposed it",
			base:     ms(3, "a=2"),
			ours:     ms(4, "a=2", "x=5"),
			theirs:   ms(4, "deposed:a=2"),
			want:     "a=2 x=5",
			wantNote: "THEIRS made Desk file 2, which OURS holds, a deposed record at a; kept OURS's record",
		},
		{
			name:     "theirs removed a file ours holds and made it pending elsewhere",
			base:     ms(3, "a=2"),
			ours:     ms(4, "a=2", "x=5"),
			theirs:   ms(4, "pending:z=2"),
			want:     "a=2 x=5",
			wantNote: "a pending record at z",
		},
		{
			name:     "theirs replaced a file ours holds and kept the old one deposed",
			base:     ms(3, "a=1"),
			ours:     ms(4, "a=1", "x=5"),
			theirs:   ms(4, "a=7", "deposed:a=1"),
			want:     "a=1 deposed:a=7 x=5",
			wantNote: "deposed THEIRS's Desk file 7 to keep OURS's 1",
		},
		{
			name:     "ours replaced, theirs changed its record of the old file",
			base:     ms(3, "a=1"),
			ours:     ms(4, "a=2"),
			theirs:   ms(4, "a=1~renamed.txt"),
			want:     "a=2",
			wantNote: "OURS replaced Desk file 1 with 2, THEIRS changed its record of 1; kept OURS's Desk file 2",
		},
		{
			name:   "no common ancestor",
			base:   nil,
			ours:   ms(2, "a=1"),
			theirs: ms(7, "a=1", "b=2"),
			want:   "a=1 b=2", wantSerial: 8,
		},
		{
			name:       "ancestor of another lineage is ignored",
			base:       func() *State { s := ms(1, "a=1"); s.Lineage = "other"; return s }(),
			ours:       ms(2),
			theirs:     ms(3, "a=1"),
			want:       "a=1",
			wantSerial: 4,
			wantNote:   "another lineage",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oursBefore := terms(tt.ours)
			got, notes, err := Merge(tt.base, tt.ours, tt.theirs, mergeAt)
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if s := terms(got); s != tt.want {
				t.Errorf("merged = %q, want %q (notes: %q)", s, tt.want, notes)
			}
			wantSerial := tt.wantSerial
			if wantSerial == 0 {
				wantSerial = max(tt.ours.Serial, tt.theirs.Serial) + 1
			}
			if got.Serial != wantSerial || got.Lineage != mergeLineage {
				t.Errorf("serial, lineage = %d, %s; want %d, %s", got.Serial, got.Lineage, wantSerial, mergeLineage)
			}
			if tt.wantNote != "" && !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, tt.wantNote) }) {
				t.Errorf("notes %q lack %q", notes, tt.wantNote)
			}
			if tt.wantNote == "" && len(notes) > 0 {
				t.Errorf("unexpected notes %q", notes)
			}
			if terms(tt.ours) != oursBefore {
				t.Errorf("Merge changed its OURS argument")
			}
			checkOneRecordPerID(t, got)
			data, err := got.Encode()
			if err != nil {
				t.Fatalf("merged state does not encode: %v", err)
			}
			if _, err := Decode(data); err != nil {
				t.Fatalf("merged state does not decode: %v", err)
			}
		})
	}
}

// TestMergeDeposedCarriesFile checks that a file deposed by a clash keeps the filename and
// size the next apply verifies before deleting it.
func TestMergeDeposedCarriesFile(t *testing.T) {
	got, _, err := Merge(ms(1, "a=1"), ms(2, "a=7"), ms(2, "a=8~their-name.txt"), mergeAt)
	if err != nil {
		t.Fatal(err)
	}
	want := []Deposed{{Address: "a", ID: 8, Filename: "their-name.txt", Size: 80, Since: mergeAt}}
	if !slices.Equal(got.Deposed, want) {
		t.Errorf("deposed = %+v, want %+v", got.Deposed, want)
	}
}

func TestMergeRefused(t *testing.T) {
	other := ms(2, "a=1")
	other.Lineage = "99999999-2222-4333-8444-555555555555"
	elsewhere := ms(2, "a=1")
	elsewhere.Site = "https://other.teamwork.com"
	tests := []struct {
		name   string
		theirs *State
		field  string
	}{
		{"different lineage", other, "lineage"},
		{"different site", elsewhere, "site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Merge(ms(1), ms(2, "a=1"), tt.theirs, mergeAt)
			var me *MergeError
			if !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("Merge = %v, want a *MergeError on %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) || me.Hint() == "" {
				t.Errorf("error %q (hint %q) does not name %s or lacks a hint", err, me.Hint(), tt.field)
			}
		})
	}
}

func checkOneRecordPerID(t *testing.T, s *State) {
	t.Helper()
	for id, recs := range recordsByID(s) {
		if len(recs) > 1 {
			t.Errorf("Desk file %d is on %d records: %v", id, len(recs), recs)
		}
	}
}
