package state_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The goldens in testdata were written by Python from the .in.json files:
// json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n".
func TestEncodeMatchesPython(t *testing.T) {
	for _, name := range []string{"empty", "full", "v2"} {
		t.Run(name, func(t *testing.T) {
			in := readFile(t, filepath.Join("testdata", name+".in.json"))
			want := readFile(t, filepath.Join("testdata", name+".golden.json"))
			for _, src := range [][]byte{in, want} {
				s, err := state.Decode(src)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				got, err := s.Encode()
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("Encode differs from Python's json.dumps\n got: %s\nwant: %s", got, want)
				}
			}
		})
	}
}

// pythonLike re-encodes data the way Python's json.dumps(indent=2, sort_keys=True,
// ensure_ascii=False) does, using only encoding/json: maps marshal with sorted keys. Go
// escapes U+2028/U+2029 where Python does not, which is undone here.
func pythonLike(t *testing.T, data []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		t.Fatalf("Encode output is not JSON: %v\n%s", err, data)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tree); err != nil {
		t.Fatal(err)
	}
	out := strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(b.String())
	return []byte(out)
}

func TestEncodeSortedKeysProperty(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	busy := state.New("https://example.teamwork.com")
	busy.Activate("z/<b>&.png", state.Attachment{ID: 7, Filename: "b\u2028\"x\"\x01.png", Blake3: hash, UploadedAt: at})
	busy.Activate("a.png", state.Attachment{ID: 1 << 62, Blake3: hash, State: "active", UploadedAt: at})
	busy.Activate("latin1-\xe9.png", state.Attachment{ID: 8, Filename: "caf\xe9\xed\xa0\x80.png", Blake3: hash, UploadedAt: at})
	busy.SetPending("ü/new.png", state.Pending{ID: 9, Blake3: hash, StartedAt: at})
	apply(t, busy, state.Mutation{Op: state.OpDepose, Deposed: &state.Deposed{Address: "old.pdf", ID: 3, Since: at}})
	for _, tt := range []struct {
		name string
		s    *state.State
	}{
		{"new", state.New("s")},
		{"busy", busy},
		{"golden", mustDecode(t, readFile(t, "testdata/full.golden.json"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if want := pythonLike(t, got); !bytes.Equal(got, want) {
				t.Errorf("Encode is not sorted/indented like json.dumps\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestEncodeLayout(t *testing.T) {
	s := state.New("https://example.teamwork.com")
	s.Lineage = "4f1c9b0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
	// Pending and deposed that were used and emptied again are left out, like never-used ones.
	s.SetPending("a", state.Pending{ID: 1, Blake3: hash})
	apply(t, s, state.Mutation{Op: state.OpDropPending, Address: "a"},
		state.Mutation{Op: state.OpDepose, Deposed: &state.Deposed{Address: "a", ID: 2}},
		state.Mutation{Op: state.OpUndepose, ID: 2})
	got, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "attachments": {},
  "lineage": "4f1c9b0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b",
  "serial": 0,
  "site": "https://example.teamwork.com",
  "version": 2
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Go strings may hold invalid UTF-8 (a Latin-1 file name, say); it is written as U+FFFD,
// as encoding/json would, so that the file is valid UTF-8 and round-trips.
func TestEncodeInvalidUTF8(t *testing.T) {
	s := state.New("s")
	s.Activate("caf\xe9", state.Attachment{ID: 1, Filename: "\xff\xfe", Blake3: hash})
	got, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte("\"caf\ufffd\": {")) || !bytes.Contains(got, []byte("\"filename\": \"\ufffd\ufffd\"")) {
		t.Errorf("invalid UTF-8 not replaced:\n%s", got)
	}
	again, err := mustDecode(t, got).Encode()
	if err != nil || !bytes.Equal(got, again) {
		t.Errorf("no round trip (%v):\n%s", err, again)
	}
}

func TestEncodeWritesUTC(t *testing.T) {
	s := state.New("s")
	s.Activate("a", state.Attachment{ID: 1, Blake3: hash,
		UploadedAt: time.Date(2026, 11, 26, 12, 30, 0, 0, time.FixedZone("CEST", 2*3600))})
	got, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"uploadedAt": "2026-11-26T10:30:00Z"`)) {
		t.Errorf("time not written in UTC:\n%s", got)
	}
	if !s.Attachments["a"].UploadedAt.Equal(time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC)) ||
		s.Attachments["a"].UploadedAt.Location().String() != "CEST" {
		t.Errorf("Encode changed the caller's state: %v", s.Attachments["a"].UploadedAt)
	}
}

func TestEncodeRefusesInvalidState(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*state.State)
		want   string
	}{
		{"zero id", func(s *state.State) { s.Activate("a", state.Attachment{Blake3: hash}) },
			`refusing to encode an invalid state: state file is corrupt: attachments["a"].id: 0 is not a Desk file id`},
		{"bad hash", func(s *state.State) { s.Activate("a", state.Attachment{ID: 1, Blake3: "abc"}) },
			`refusing to encode an invalid state: state file is corrupt: attachments["a"].blake3: "abc" is not 64 lowercase hex digits`},
		{"nil attachments", func(s *state.State) { s.Attachments = nil },
			`refusing to encode an invalid state: state file is corrupt: attachments: missing`},
		{"no lineage", func(s *state.State) { s.Lineage = "" },
			`refusing to encode an invalid state: state file is corrupt: lineage: missing`},
		{"year 10000", func(s *state.State) {
			s.Deposed = []state.Deposed{{Address: "a", ID: 1, Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
		},
			`refusing to encode an invalid state: state file is corrupt: deposed[0].since: year 10000 is outside 0000-9999 in UTC`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New("s")
			tt.modify(s)
			_, err := s.Encode()
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	a, b := state.New("https://x.teamwork.com"), state.New("https://x.teamwork.com")
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid4.MatchString(a.Lineage) {
		t.Errorf("lineage %q is not a UUID v4", a.Lineage)
	}
	if a.Lineage == b.Lineage {
		t.Errorf("two states share lineage %q", a.Lineage)
	}
	if a.Version != 2 || a.Serial != 0 || a.Site != "https://x.teamwork.com" || a.Attachments == nil || len(a.Attachments) != 0 {
		t.Errorf("New = %+v", a)
	}
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 5, time.UTC) // nanoseconds survive
	s := state.New("https://example.teamwork.com")
	s.Serial = 41
	s.Activate("images/logo.png", state.Attachment{ID: 123, Filename: "logo.png", MimeType: "image/png",
		Disposition: "attachment", Type: "attachment", Size: 14358, Blake3: hash, State: "active", UploadedAt: at})
	s.SetPending("images/new.png", state.Pending{ID: 130, Blake3: hash, StartedAt: at})
	s.Deposed = []state.Deposed{{Address: "docs/guide.pdf", ID: 118, Filename: "guide.pdf", Size: 9, Since: at}}
	data, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got := mustDecode(t, data)
	again, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Errorf("Encode(Decode(x)) != x\n got: %s\nwant: %s", again, data)
	}
	if a := got.Attachments["images/logo.png"]; a == nil || *a != *s.Attachments["images/logo.png"] {
		t.Errorf("attachment = %+v, want %+v", a, s.Attachments["images/logo.png"])
	}
	if got.Lineage != s.Lineage || got.Serial != 41 || got.Pending["images/new.png"].ID != 130 ||
		len(got.Deposed) != 1 || got.Deposed[0] != s.Deposed[0] {
		t.Errorf("decoded %+v, want %+v", got, s)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := func(extra string) string {
		return `{"version": 1, "lineage": "l", "serial": 0, "site": "s", ` + extra + `}`
	}
	att := func(fields string) string {
		return valid(`"attachments": {"a.png": {"id": 1, "blake3": "` + hash + `"` + fields + `}}`)
	}
	tests := []struct {
		name    string
		in      string
		want    string
		version bool // want *VersionError rather than *CorruptError
	}{
		{"newer version", `{"version": 3, "lineage": "l", "attachments": {}}`,
			"state file format version 3 is newer than this desksync understands (2)", true},
		{"newer version, other layout", `{"version": 3, "resources": [1, 2]}`,
			"state file format version 3 is newer than this desksync understands (2)", true},
		{"empty", "", "state file is corrupt: line 1, column 1: file is empty", false},
		{"only spaces", " \n ", "state file is corrupt: line 1, column 1: file is empty", false},
		{"null", "null", "state file is corrupt: line 1, column 1: not a JSON object", false},
		{"array", "\n [1]", "state file is corrupt: line 2, column 2: not a JSON object", false},
		{"truncated", "{\n  \"version\": 1,\n  \"lin",
			"state file is corrupt: line 3, column 7: unexpected end of input (is the file truncated?)", false},
		{"syntax", "{\n  \"version\": 1,\n  \"lineage\" \"x\"\n}",
			"state file is corrupt: line 3, column 13: lineage: invalid character '\"' after object name (expecting ':')", false},
		{"column counts characters", "{\"site\": \"é\", x}",
			"state file is corrupt: line 1, column 15: invalid character 'x' at start of value", false},
		{"trailing data", valid(`"attachments": {}`) + " {}",
			"state file is corrupt: line 1, column 77: invalid character '{' after top-level value", false},
		{"invalid UTF-8 outside a string", "{\"version\": 1\xff}",
			"state file is corrupt: line 1, column 14: invalid character '\\xff' after object value (expecting ',' or '}')", false},
		{"no version", `{"lineage": "l"}`, "state file is corrupt: version: missing", false},
		{"version 0", `{"version": 0}`, "state file is corrupt: version: 0 is not a state format version", false},
		{"version string", `{"version": "1"}`, `state file is corrupt: version: "1" is not a state format version`, false},
		{"version float", `{"version": 1.0}`, "state file is corrupt: version: 1.0 is not a state format version", false},
		{"version huge", `{"version": 1e400}`, "state file is corrupt: version: 1e400 is not a state format version", false},
		{"unknown field", valid(`"attachments": {}, "outputs": {}`), `state file is corrupt: line 1, column 77: outputs: unknown field "outputs"`, false},
		{"unknown nested field", att(`, "etag": "x"`), `state file is corrupt: line 1, column 171: attachments["a.png"].etag: unknown field "etag"`, false},
		{"no lineage", `{"version": 1, "attachments": {}}`, "state file is corrupt: lineage: missing", false},
		{"no attachments", valid(`"pending": {}`), "state file is corrupt: attachments: missing", false},
		{"null attachment", valid(`"attachments": {"a.png": null}`), `state file is corrupt: attachments["a.png"]: null`, false},
		{"empty address", valid(`"attachments": {"": {"id": 1, "blake3": "` + hash + `"}}`),
			`state file is corrupt: attachments[""]: empty address`, false},
		{"id 0", valid(`"attachments": {"a.png": {"id": 0, "blake3": "` + hash + `"}}`),
			`state file is corrupt: attachments["a.png"].id: 0 is not a Desk file id`, false},
		{"id negative", valid(`"attachments": {"a.png": {"id": -5, "blake3": "` + hash + `"}}`),
			`state file is corrupt: attachments["a.png"].id: -5 is not a Desk file id`, false},
		{"id missing", valid(`"attachments": {"a.png": {"blake3": "` + hash + `"}}`),
			`state file is corrupt: attachments["a.png"].id: 0 is not a Desk file id`, false},
		{"size string", att(`, "size": "12"`),
			`state file is corrupt: line 1, column 179: attachments["a.png"].size: a JSON string is not a valid int64`, false},
		{"id too big", valid(`"attachments": {"a.png": {"id": 1e400}}`),
			`state file is corrupt: line 1, column 90: attachments["a.png"].id: a JSON number is not a valid int64`, false},
		{"blake3 upper case", valid(`"attachments": {"a.png": {"id": 1, "blake3": "` + strings.ToUpper(hash) + `"}}`),
			`state file is corrupt: attachments["a.png"].blake3: "` + strings.ToUpper(hash) + `" is not 64 lowercase hex digits`, false},
		{"blake3 short", valid(`"attachments": {"a.png": {"id": 1, "blake3": "abc"}}`),
			`state file is corrupt: attachments["a.png"].blake3: "abc" is not 64 lowercase hex digits`, false},
		{"negative size", att(`, "size": -1`), `state file is corrupt: attachments["a.png"].size: -1 is negative`, false},
		{"negative serial", `{"version": 1, "lineage": "l", "serial": -1, "attachments": {}}`,
			"state file is corrupt: serial: -1 is negative", false},
		{"bad time", att(`, "uploadedAt": "yesterday"`),
			`state file is corrupt: line 1, column 185: attachments["a.png"].uploadedAt: "yesterday" is not an RFC 3339 time such as 2026-11-26T10:00:00Z`, false},
		{"time before year 0 in UTC", att(`, "uploadedAt": "0000-01-01T00:00:00+01:00"`),
			`state file is corrupt: attachments["a.png"].uploadedAt: year -1 is outside 0000-9999 in UTC`, false},
		{"pending empty address", valid(`"attachments": {}, "pending": {"": {"id": 1, "blake3": "` + hash + `"}}`),
			`state file is corrupt: pending[""]: empty address`, false},
		{"pending null", valid(`"attachments": {}, "pending": {"a": null}`),
			`state file is corrupt: pending["a"]: null`, false},
		{"pending bad id", valid(`"attachments": {}, "pending": {"a": {"id": 0, "blake3": "` + hash + `"}}`),
			`state file is corrupt: pending["a"].id: 0 is not a Desk file id`, false},
		{"pending bad blake3", valid(`"attachments": {}, "pending": {"a": {"id": 1, "blake3": ""}}`),
			`state file is corrupt: pending["a"].blake3: "" is not 64 lowercase hex digits`, false},
		{"deposed empty address", valid(`"attachments": {}, "deposed": [{"address": "", "id": 1}]`),
			"state file is corrupt: deposed[0].address: empty address", false},
		{"deposed bad id", valid(`"attachments": {}, "deposed": [{"address": "a", "id": 1}, {"address": "b", "id": -1}]`),
			"state file is corrupt: deposed[1].id: -1 is not a Desk file id", false},
		{"key in another case", att(`, "Size": 12`),
			`state file is corrupt: line 1, column 171: attachments["a.png"].Size: key "Size" must be spelled "size"`, false},
		{"top-level key in another case", `{"version": 1, "Lineage": "l", "attachments": {}}`,
			`state file is corrupt: line 1, column 16: Lineage: key "Lineage" must be spelled "lineage"`, false},
		{"key twice", "{\"version\": 1, \"lineage\": \"l\",\n \"serial\": 3,\n \"serial\": 4, \"attachments\": {}}",
			`state file is corrupt: line 3, column 2: serial: key "serial" appears twice in one object (a merge conflict resolved by keeping both sides?)`, false},
		{"address twice", valid(`"attachments": {"a.png": {"id": 1, "blake3": "` + hash + `"}, "a.png": {"id": 2, "blake3": "` + hash + `"}}`),
			`state file is corrupt: line 1, column 172: attachments["a.png"]: key "a.png" appears twice in one object (a merge conflict resolved by keeping both sides?)`, false},
		{"deposed key in another case", valid(`"attachments": {}, "deposed": [{"address": "a", "ID": 1}]`),
			`state file is corrupt: line 1, column 106: deposed[0].ID: key "ID" must be spelled "id"`, false},
		{"nested deeper than the format", `{"version": 1, "lineage": "l", "attachments": {}, "x": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
			`state file is corrupt: line 1, column 51: x: unknown field "x"`, false},
		{"duplicate id, two addresses", valid(`"attachments": {"b.png": {"id": 7, "blake3": "` + hash + `"}, "a.png": {"id": 7, "blake3": "` + hash + `"}}`),
			`state file is corrupt: attachments["b.png"].id: Desk file 7 is also recorded as attachments["a.png"]; one Desk file belongs to one record`, false},
		{"duplicate id, attachment and pending", valid(`"attachments": {"a.png": {"id": 7, "blake3": "` + hash + `"}}, "pending": {"b.png": {"id": 7, "blake3": "` + hash + `"}}`),
			`state file is corrupt: pending["b.png"].id: Desk file 7 is also recorded as attachments["a.png"]; one Desk file belongs to one record`, false},
		{"duplicate id, pending and deposed", valid(`"attachments": {}, "pending": {"b.png": {"id": 7, "blake3": "` + hash + `"}}, "deposed": [{"address": "c", "id": 8}, {"address": "a.png", "id": 7}]`),
			`state file is corrupt: deposed[1].id: Desk file 7 is also recorded as pending["b.png"]; one Desk file belongs to one record`, false},
		{"duplicate id, deposed twice", valid(`"attachments": {}, "deposed": [{"address": "c", "id": 8}, {"address": "c", "id": 8}]`),
			`state file is corrupt: deposed[1].id: Desk file 8 is also recorded as deposed[0]; one Desk file belongs to one record`, false},
		{"too large", `{"version": 1, "site": "` + strings.Repeat("x", state.MaxSize) + `"}`,
			"state file is corrupt: file is 67108890 bytes, more than the 64 MiB a state file may have", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := state.Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", s)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			var ve *state.VersionError
			var ce *state.CorruptError
			switch {
			case tt.version && !errors.As(err, &ve):
				t.Errorf("error is %T, want *state.VersionError", err)
			case !tt.version && !errors.As(err, &ce):
				t.Errorf("error is %T, want *state.CorruptError", err)
			}
		})
	}
}

func TestErrorHints(t *testing.T) {
	tests := []struct {
		err  hint.Hinter
		want string
	}{
		{&state.VersionError{Path: "s.json", Version: 2},
			"upgrade desksync to a release that reads state format version 2; the state file was not changed"},
		{&state.CorruptError{Path: "s.json"},
			"restore s.json from version control or from s.json.backup; desksync will not overwrite it"},
		{&state.CorruptError{},
			"restore the state file from version control or from its .backup copy; desksync will not overwrite it"},
	}
	for _, tt := range tests {
		if got := tt.err.Hint(); got != tt.want {
			t.Errorf("%T.Hint() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := state.New("s")
	s.SetPending("b.png", state.Pending{ID: 2, Blake3: hash, StartedAt: at})
	s.SetPending("c.png", state.Pending{ID: 3, Blake3: hash, StartedAt: at})
	s.Activate("a.png", state.Attachment{ID: 1, Blake3: hash})
	if got := s.Pending["b.png"]; got == nil || got.ID != 2 {
		t.Fatalf("SetPending: pending = %+v", s.Pending)
	}
	// A replace: depose the old id, activate the new one; its pending record goes away,
	// while a pending upload of another file stays to be cleaned up.
	apply(t, s, state.Mutation{Op: state.OpDepose, Deposed: &state.Deposed{Address: "b.png", ID: 1, Since: at}})
	s.Activate("b.png", state.Attachment{ID: 2, Blake3: hash})
	s.Activate("c.png", state.Attachment{ID: 4, Blake3: hash})
	if _, ok := s.Pending["b.png"]; ok || s.Pending["c.png"] == nil {
		t.Errorf("Activate: pending = %+v, want only c.png's", s.Pending)
	}
	apply(t, s, state.Mutation{Op: state.OpDropPending, Address: "c.png", ID: 99})
	if s.Pending["c.png"] == nil {
		t.Errorf("dropPending of another id removed c.png's pending upload")
	}
	apply(t, s, state.Mutation{Op: state.OpDropPending, Address: "c.png", ID: 3})
	if got := s.Addresses(); strings.Join(got, ",") != "a.png,b.png,c.png" {
		t.Errorf("Addresses() = %q", got)
	}
	if len(s.Deposed) != 1 || s.Deposed[0] != (state.Deposed{Address: "b.png", ID: 1, Since: at}) {
		t.Errorf("depose: deposed = %+v", s.Deposed)
	}
	c := s.Clone()
	apply(t, s, state.Mutation{Op: state.OpUndepose, ID: 99})
	if len(s.Deposed) != 1 {
		t.Errorf("undepose of another id: deposed = %+v", s.Deposed)
	}
	apply(t, s, state.Mutation{Op: state.OpUndepose, ID: 1})
	if s.Deposed != nil {
		t.Errorf("undepose: deposed = %+v", s.Deposed)
	}
	if !s.Forget("a.png") || s.Forget("a.png") || s.Attachments["a.png"] != nil {
		t.Errorf("Forget: attachments = %+v", s.Attachments)
	}
	s.Attachments["b.png"].Filename = "changed"
	if len(c.Deposed) != 1 || c.Attachments["a.png"] == nil || c.Attachments["b.png"].Filename != "" {
		t.Errorf("Clone shares data with the original: %+v", c)
	}
}

func apply(t *testing.T, s *state.State, muts ...state.Mutation) {
	t.Helper()
	for _, m := range muts {
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
}

func mustDecode(t *testing.T, data []byte) *state.State {
	t.Helper()
	s, err := state.Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return s
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
