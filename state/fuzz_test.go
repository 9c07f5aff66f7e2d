package state_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/desksync/desksync/state"
)

// FuzzDecode checks that Decode never panics on any input, and that whatever it accepts
// encodes (in the Python-identical layout) and decodes back to the same state.
func FuzzDecode(f *testing.F) {
	ok := func(extra string) string {
		return `{"version":1,"lineage":"l","serial":3,"site":"s","attachments":{"a":{"id":1,"blake3":"` + hash + `","uploadedAt":"2026-11-26T10:00:00Z"}}` + extra + `}`
	}
	for _, seed := range []string{
		ok(""),
		ok(`,"pending":{"p":{"id":2,"blake3":"` + hash + `","startedAt":"2026-11-26T10:00:00+14:00"}},"deposed":[{"address":"d","id":3,"since":"2026-11-26T10:00:00.999999999-12:00"}]`),
		`{"version":2}`,
		`{"version":1e400}`,
		`{"version":99999999999999999999999}`,
		`{"version":1,"lineage":"l","attachments":{"a":{"id":9223372036854775807,"size":9223372036854775808,"blake3":"` + hash + `"}}}`,
		`{"version":1,"lineage":"l","attachments":{"a":{"id":1,"blake3":"` + hash + `"},"a":{"id":2,"blake3":"` + hash + `"}}}`,
		`{"version":1,"version":2}`,
		`{"version":2,"version":1,"lineage":"l","attachments":{}}`,
		`{"version":null,"lineage":null,"attachments":null,"pending":null,"deposed":null}`,
		`{"version":1,"lineage":"l","attachments":{},"pending":{"a":null},"deposed":[null]}`,
		"{\"version\":1,\"lineage\":\"\xff\xfe\",\"site\":\"\xed\xa0\x80\",\"attachments\":{\"\xc3\":{\"id\":1,\"blake3\":\"" + hash + "\"}}}",
		`{"version":1,"lineage":"\u2028\ud800\u0000<>&","attachments":{}}`,
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		`{"version":1,"site":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `}`,
		`{"version":1,"lineage":"l","attachments":{"a":{"id":1,"blake3":"` + hash + `","uploadedAt":"0000-01-01T00:00:00+01:00"}}}`,
		`{"version":1,"lineage":"l","attachments":{"a":{"id":1,"blake3":"` + hash + `","uploadedAt":"9999-12-31T23:59:59-01:00"}}}`,
		"", "null", "{", `{"version":1`, "\ufeff{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := state.Decode(data)
		if err != nil {
			if s != nil {
				t.Errorf("Decode returned a state and error %v", err)
			}
			return
		}
		enc, err := s.Encode()
		if err != nil {
			t.Fatalf("Decode accepted a state that Encode refuses: %v\ninput: %q", err, data)
		}
		if want := pythonLike(t, enc); !bytes.Equal(enc, want) {
			t.Fatalf("Encode not in json.dumps layout\n got: %s\nwant: %s", enc, want)
		}
		s2, err := state.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(s)) failed: %v\n%s", err, enc)
		}
		enc2, err := s2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the state (%v)\nfirst:  %s\nsecond: %s", err, enc, enc2)
		}
		if s2.Lineage != s.Lineage || s2.Serial != s.Serial || len(s2.Attachments) != len(s.Attachments) ||
			len(s2.Pending) != len(s.Pending) || len(s2.Deposed) != len(s.Deposed) {
			t.Fatalf("round trip changed the state: %+v became %+v", s, s2)
		}
	})
}
