package state

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDecodePlainTakesWhatEncodeWrites: the states desksync writes are read without
// reflection, records of every kind included, and read as unmarshal reads them.
func TestDecodePlainTakesWhatEncodeWrites(t *testing.T) {
	s := plainSample()
	data, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"encoded": data, "empty": []byte(`{"version":2,"lineage":"l","attachments":{},"pending":{},"deposed":[]}`)} {
		got, _, ok := decodePlain(data)
		if !ok {
			t.Fatalf("%s: decodePlain refused %s", name, data)
		}
		want, ok := unmarshalReadable(data)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decodePlain = %+v, unmarshal = %+v", name, got, want)
		}
	}
	if got, _, _ := decodePlain(data); !reflect.DeepEqual(got, s) {
		t.Errorf("decodePlain(Encode(s)) = %+v, want %+v", got, s)
	}
}

// plainSample is a state with a record of every kind, as desksync writes them.
func plainSample() *State {
	s := New("https://x.teamwork.com")
	s.Serial = 1 << 52
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	h := strings.Repeat("ab", 32)
	s.Attachments["img/é ü.png"] = &Attachment{Blake3: h, Disposition: "inline", Filename: "é ü.png", ID: 7, MimeType: "image/png", Size: 12, State: "active", Type: "attachment", UploadedAt: at}
	s.Attachments["b"] = &Attachment{Blake3: h, ID: 8, UploadedAt: at.Truncate(time.Second)}
	s.Pending = map[string]*Pending{"p": {Blake3: h, Filename: "p", ID: 9, Size: 1, StartedAt: at}}
	s.Deposed = []Deposed{{Address: "d", Filename: "d", ID: 10, Since: at, Size: 2}}
	return s
}

// TestDecodePlainLeavesTheRest: anything but the plainest form goes to unmarshal.
func TestDecodePlainLeavesTheRest(t *testing.T) {
	const rec = `"blake3":"x","id":1`
	for _, in := range []string{
		`{"version":2,"lineage":"l","attachments":{"a":{` + rec + `},"a":{` + rec + `}}}`,
		`{"version":2,"version":2,"lineage":"l","attachments":{}}`,
		`{"version":2,"lineage":"l","attachments":{"a":{` + rec + `,"id":2}}}`,
		`{"version":2,"lineage":"l\n","attachments":{}}`,
		`{"version":2,"lineage":"\u006c","attachments":{}}`,
		"{\"version\":2,\"lineage\":\"\xff\",\"attachments\":{}}",
		`{"version":2,"lineage":"l","attachments":{"a":null}}`,
		`{"version":2,"lineage":"l","attachments":null}`,
		`{"version":2.0,"lineage":"l","attachments":{}}`,
		`{"version":02,"lineage":"l","attachments":{}}`,
		`{"version":3,"lineage":"l","attachments":{}}`,
		`{"version":2,"lineage":"l","attachments":{},"extra":1}`,
		`{"version":2,"lineage":"l","attachments":{"a":{` + rec + `,"uploadedAt":"2026-11-26T10:00:00+01:00"}}}`,
		`{"version":2,"lineage":"l","attachments":{"a":{` + rec + `,"uploadedAt":"2026-11-26t10:00:00Z"}}}`,
		`{"version":2,"lineage":"l","attachments":{"a":{` + rec + `,"uploadedAt":"2026-11-26T10:00:00.Z"}}}`,
		`{"version":2,"lineage":"l","attachments":{"a":{` + rec + `,"ID":1}}}`,
		`{"version":2,"lineage":"l","attachments":{}} x`,
		`{"version":2,"lineage":"l","attachments":{},}`,
		"\ufeff{\"version\":2,\"lineage\":\"l\",\"attachments\":{}}",
		`{"version":2,"lineage":"l","attachments":{"a":{"id":9223372036854775807}}}`,
		`{"version":2,"lineage":"l","attachments":{"a":{"id":0,"blake3":"` + strings.Repeat("ab", 32) + `"}}}`,
		`{"version":2,"lineage":"l","attachments":{"":{"id":1,"blake3":"` + strings.Repeat("ab", 32) + `"}}}`,
	} {
		if s, _, ok := decodePlain([]byte(in)); ok {
			t.Errorf("decodePlain took %s as %+v", in, s)
		}
	}
}

// FuzzDecodePlain: whatever decodePlain accepts, unmarshal accepts as the same state.
func FuzzDecodePlain(f *testing.F) {
	for _, name := range []string{"testdata/full.in.json", "testdata/v2.in.json", "testdata/empty.in.json"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	if b, err := plainSample().Encode(); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"version":2,"lineage":"l","serial":-0,"attachments":{"a":{"id":1,"uploadedAt":"0000-01-01T00:00:00.000000001Z"}},"deposed":[],"pending":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ids, ok := decodePlain(data)
		if !ok {
			return
		}
		// What Decode returns unvalidated, validate passes.
		if got.checkHeader() == nil && !hasDuplicate(ids) {
			if err := got.validate(); err != nil {
				t.Fatalf("decodePlain's checks passed a state validate refuses (%v): %q", err, data)
			}
		}
		want, wok := unmarshalReadable(data)
		if !wok {
			t.Fatalf("decodePlain took what unmarshal refuses: %q", data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePlain = %+v, unmarshal = %+v\ninput: %q", got, want, data)
		}
	})
}
