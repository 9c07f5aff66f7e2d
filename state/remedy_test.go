package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/hint"
	"github.com/go-json-experiment/json"
)

// TestLoadSaysWhatToFix checks the damage that has a remedy short of restoring the file: a
// byte order mark an editor added, git conflict markers left by a merge without the
// driver, and a serial no run writes. Each error names the file and line, and the hint
// says how to fix that problem in particular.
func TestLoadSaysWhatToFix(t *testing.T) {
	good, err := testState(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Replace(string(good), `"serial": 0`, `"serial": 9007199254740993`, 1)
	if huge == string(good) {
		t.Fatal("test state has no serial 0 to replace")
	}
	conflict := "{\n<<<<<<< ours\n  \"serial\": 4,\n=======\n  \"serial\": 5,\n>>>>>>> theirs\n}\n"
	tests := []struct {
		name, in  string
		want      string
		wantHints []string
	}{
		{"byte order mark", "\xEF\xBB\xBF" + string(good),
			"s.json:1:1: state file is corrupt: the file starts with a UTF-8 byte order mark (bytes EF BB BF), which JSON does not allow",
			[]string{`sed -i '1s/^\xEF\xBB\xBF//' ` + "DIR/s.json", `"UTF-8 with BOM"`}},
		{"git conflict markers", conflict,
			"s.json:2:1: state file is corrupt: git conflict marker: the file is an unmerged git conflict, not a state",
			[]string{"merge driver is not configured", `git config merge.desksync.driver "desksync state merge %O %A %B"`, "docs/team.md", `"git checkout -m DIR/s.json"`}},
		{"diff3 conflict markers only further down", "{\n  \"version\": 2,\n||||||| base\n}\n",
			"s.json:3:1: state file is corrupt: git conflict marker: the file is an unmerged git conflict, not a state", []string{`"s.json merge=desksync"`}},
		{"serial above 2^53", huge,
			"s.json: state file is corrupt: serial: 9007199254740993 is above 9007199254740992 (2^53), the largest serial desksync reads",
			[]string{"no desksync run writes a serial this large", "restore DIR/s.json from version control"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.json")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := NewFile(path).Load(context.Background())
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.HasSuffix(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), dir) {
				t.Fatalf("Load = %v\nwant a *CorruptError ending %q", err, tt.want)
			}
			h := strings.Join(hint.Of(err), "\n")
			for _, w := range tt.wantHints {
				if w = strings.ReplaceAll(w, "DIR", dir); !strings.Contains(h, w) {
					t.Errorf("hint %q lacks %q", h, w)
				}
			}
		})
	}
}

// TestSerialBound checks that a state at the largest serial desksync reads still loads and
// encodes, one past it does not, and that Merge refuses inputs whose merged serial would
// pass it instead of carrying it on towards int64's end.
func TestSerialBound(t *testing.T) {
	s := testState(t)
	s.Serial = MaxSerial
	data, err := s.Encode()
	if err != nil {
		t.Fatalf("Encode at MaxSerial: %v", err)
	}
	if _, err := Decode(data); err != nil {
		t.Fatalf("Decode at MaxSerial: %v", err)
	}
	s.Serial = MaxSerial + 1
	if _, err := s.Encode(); err == nil {
		t.Fatal("Encode above MaxSerial succeeded")
	}
	_, _, err = Merge(ms(1), ms(MaxSerial), ms(2), mergeAt)
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "OURS's serial 9007199254740992 leaves no room") {
		t.Fatalf("Merge at MaxSerial = %v, want a *CorruptError naming OURS's serial", err)
	}
	if _, _, err := Merge(ms(1), ms(MaxSerial-1), ms(2), mergeAt); err != nil {
		t.Fatalf("Merge just below MaxSerial: %v", err)
	}
}

// TestJournalSerialBound checks that a journal cannot carry a state past MaxSerial: a line
// past it is refused on load, naming the line, though it follows the state file's serial
// and its checksum matches; and Append refuses to write one.
func TestJournalSerialBound(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), "s.json"))
	s := testState(t)
	s.Serial = MaxSerial - 1
	if err := f.Save(context.Background(), s); err != nil { // bumps it to MaxSerial
		t.Fatal(err)
	}
	entry, err := json.Marshal(journalEntry{Batch: MaxSerial + 1, Lineage: s.Lineage, Serial: MaxSerial + 1,
		Mutation: Mutation{Op: OpForget, Address: "images/logo.png"}})
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(journalLine{Entry: entry, Sum: checksum(entry)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.JournalPath(), append(line, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = NewFile(f.Path()).Load(context.Background())
	var ce *CorruptError
	want := "s.json.journal:1:1: state journal is corrupt: serial 9007199254740993 (batch 9007199254740993) is above 9007199254740992 (2^53)"
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load = %v, want a *CorruptError containing %q", err, want)
	}

	g := NewFile(filepath.Join(t.TempDir(), "s.json"))
	s = testState(t)
	s.Serial = MaxSerial - 2
	if err := g.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	m := Mutation{Op: OpForget, Address: "images/logo.png"}
	err = g.Append(context.Background(), s, []Mutation{m, m})
	if err == nil || !strings.Contains(err.Error(), "serial 9007199254740991 plus 2 steps passes 9007199254740992") {
		t.Fatalf("Append past MaxSerial = %v, want it refused", err)
	}
	if _, err := os.Stat(g.JournalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Append past MaxSerial wrote a journal: %v", err)
	}
}

// TestFixHintsNameTheFile checks the remedies without a path (a state given as bytes) and
// for an object in a store, where an editor or git remedy does not apply.
func TestFixHintsNameTheFile(t *testing.T) {
	_, err := Decode([]byte("<<<<<<< ours\n{}\n"))
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Decode = %v", err)
	}
	if h := ce.Hint(); !strings.Contains(h, `"desksync.state.json merge=desksync"`) || !strings.Contains(h, "git merged the state file line by line") {
		t.Errorf("hint without a path = %q", h)
	}
	ce.Path = "s3://bucket/team/desksync.state.json"
	if h := ce.Hint(); strings.Contains(h, "git") || !strings.Contains(h, "restore s3://bucket/team/desksync.state.json") {
		t.Errorf("hint for an object = %q, want the restore hint", h)
	}
}
