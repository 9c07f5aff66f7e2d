package state

import (
	"bytes"
	"errors"
	"fmt"
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

// TestPlainPrefixStopsWhereTheByteLoopStops holds the eight-at-a-time scan to the
// plain reading of one byte at a time: every byte value at every offset of a word, after
// plain bytes and before others.
func TestPlainPrefixStopsWhereTheByteLoopStops(t *testing.T) {
	byByte := func(b []byte) int {
		for i, c := range b {
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return len(b)
	}
	for length := range 20 {
		for at := range length {
			for c := range 256 {
				for _, after := range []byte{'a', 0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff} {
					b := []byte(strings.Repeat("x", length))
					b[at] = byte(c)
					for i := at + 1; i < length; i++ {
						b[i] = after
					}
					if got, want := plainPrefix(b), byByte(b); got != want {
						t.Fatalf("plainPrefix(%q) = %d, want %d", b, got, want)
					}
				}
			}
		}
	}
}

// TestUTCAgreesWithTimeParse: the plain reader's times are time.Parse's, and it refuses
// what Parse refuses (and fractions finer than nanoseconds, which Parse rounds): every
// month's last days in leap and common years, each field just out of range, and every
// length of fraction.
func TestUTCAgreesWithTimeParse(t *testing.T) {
	var in []string
	for _, year := range []string{"0000", "1900", "1970", "2000", "2023", "2024", "2100", "9999"} {
		for month := 0; month <= 13; month++ {
			for _, day := range []string{"00", "01", "28", "29", "30", "31", "32"} {
				in = append(in, fmt.Sprintf("%s-%02d-%sT00:00:00Z", year, month, day))
			}
		}
	}
	for _, clock := range []string{"23:59:59", "24:00:00", "00:60:00", "00:00:60", "99:99:99", "0a:00:00", "-1:00:00"} {
		in = append(in, "2026-11-26T"+clock+"Z")
	}
	for n := 0; n <= 10; n++ {
		in = append(in, "2026-11-26T10:00:00."+strings.Repeat("7", n)+"Z", "2026-11-26T10:00:00."+strings.Repeat("0", n)+"1Z")
	}
	in = append(in, "2026-11-26T10:00:00.+1Z", "2026-11-26 10:00:00Z", "2026-11-26T10:00:00", "2026-11-26T10:00:00z", "+026-11-26T10:00:00Z")
	for _, s := range in {
		p := plainReader{data: []byte(`"` + s + `"`)}
		got, ok := p.utc()
		want, err := time.Parse(time.RFC3339Nano, s)
		if _, frac, _ := strings.Cut(s, "."); len(frac) > len("123456789Z") {
			err = errors.New("more than nine digits of fraction: left to the library")
		}
		if ok != (err == nil) || ok && (!got.Equal(want) || got.Location() != want.Location() || !reflect.DeepEqual(got, want)) {
			t.Errorf("utc(%q) = %v, %v; time.Parse: %v, %v", s, got, ok, want, err)
		}
	}
}

// TestAttachmentLayoutIsEncodes: the layout the plain reader expects first is the one
// Encode writes, so that a change to either shows here and not only as a slower plan.
func TestAttachmentLayoutIsEncodes(t *testing.T) {
	data, err := plainSample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"b", "img/é ü.png"} {
		p := plainReader{data: data}
		p.i = bytes.Index(data, []byte(`"`+addr+`":`)) + len(addr) + 3
		if !p.asWritten(attachmentLayout, func(k int) bool {
			var ok bool
			if attachmentNames[k] == "id" || attachmentNames[k] == "size" {
				_, ok = p.integer()
			} else {
				_, ok = p.raw()
			}
			return ok
		}) {
			t.Errorf("the record of %q is not laid out as attachmentLayout says:\n%s", addr, data)
		}
	}
}

// TestIsBlake3TakesLowerHexOnly: every byte value at every place of a 64-digit digest.
func TestIsBlake3TakesLowerHexOnly(t *testing.T) {
	for at := range 64 {
		for c := range 256 {
			b := []byte(testHash)
			b[at] = byte(c)
			want := '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
			if got := isBlake3(string(b)); got != want {
				t.Fatalf("isBlake3 with %q at %d = %v, want %v", byte(c), at, got, want)
			}
		}
	}
	if isBlake3(testHash[1:]) || isBlake3(testHash+"0") {
		t.Error("isBlake3 took a digest of the wrong length")
	}
}
