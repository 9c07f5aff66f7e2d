package s3state

import (
	"errors"
	"strings"
	"testing"

	"github.com/desksync/desksync/state"
)

// FuzzParseJournal feeds journal objects as a hostile writer of the bucket could leave
// them: parseJournal must never panic, and reports anything it refuses as a corrupt state.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"lineage":"l","serial":2,"mutation":{"op":"forget","address":"a.png"}}` + "\n"))
	f.Add([]byte(`{"lineage":"l","serial":3,"mutation":{"op":"activate","address":"a","attachment":{"id":1,"blake3":"x"}}}` + "\n" +
		`{"lineage":"l","serial":4,"mutation":{"op":"undepose","id":7}}`))
	f.Add([]byte(`{"lineage":"l","serial":-1,"mutation":{}}`))
	f.Add([]byte(`{"lineage":`))
	f.Add([]byte(`{"lineage":"l","serial":2,"mutation":{"op":"forget"},"extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseJournal(data, "s3://b/k.journal/1")
		var ce *state.CorruptError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("parseJournal error %v is not a *state.CorruptError", err)
		}
		if err != nil && !strings.Contains(err.Error(), "s3://b/k.journal/1") {
			t.Fatalf("error %q does not name the object", err)
		}
		for _, e := range entries {
			if e.Serial <= 0 {
				t.Fatalf("accepted serial %d", e.Serial)
			}
			s := state.New("https://x.teamwork.com")
			_ = s.Apply(e.Mutation) // must not panic on any parsed mutation
		}
	})
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://b/k", "s3://b/a/b/c.json", "s3://b/../k", "s3:///", "s3://b/k?x", "/tmp/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		bucket, key, err := ParseURL(raw)
		if err != nil {
			return
		}
		if bucket == "" || key == "" || strings.HasSuffix(key, "/") || "s3://"+bucket+"/"+key != raw {
			t.Fatalf("ParseURL(%q) = %q, %q", raw, bucket, key)
		}
	})
}
