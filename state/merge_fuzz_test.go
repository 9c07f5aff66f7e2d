package state

import (
	"testing"
	"time"
)

// FuzzMerge merges three state files as a pull request could write them (the merge driver
// runs on whatever the branches hold): it never panics, and whatever it returns is a valid
// state that keeps the invariants Merge documents (see mergeInvariants).
func FuzzMerge(f *testing.F) {
	enc := func(s *State) []byte {
		b, err := s.Encode()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(enc(ms(1, "a=1")), enc(ms(2, "a=7", "deposed:a=1")), enc(ms(2, "a=8")))
	f.Add(enc(ms(1, "a=1", "k=2")), enc(ms(2, "b=1", "k=2")), enc(ms(2, "c=1", "pending:k=3")))
	f.Add([]byte{}, enc(ms(2, "pending:p=4")), enc(ms(2, "pending:p=9", "deposed:q=4")))
	f.Add(enc(ms(1, "a=2")), enc(ms(2, "a=2", "x=5")), enc(ms(2, "deposed:a=2")))
	f.Add(enc(ms(1, "a=1")), enc(ms(2, "a=2")), enc(ms(2, "a=1~renamed")))
	f.Fuzz(func(t *testing.T, base, ours, theirs []byte) {
		o, err := Decode(ours)
		if err != nil {
			return
		}
		th, err := Decode(theirs)
		if err != nil {
			return
		}
		b, err := Decode(base)
		if err != nil {
			b = nil
		}
		got, _, err := Merge(b, o, th, time.Unix(0, 0))
		if err != nil {
			return
		}
		data, err := got.Encode()
		if err != nil {
			t.Fatalf("merged state does not encode: %v", err)
		}
		if _, err := Decode(data); err != nil {
			t.Fatalf("merged state does not decode: %v", err)
		}
		if problems := mergeInvariants(b, o, th, got); len(problems) > 0 {
			t.Fatalf("merged %q, %q, %q into %q: %v", termsOf(b), terms(o), terms(th), terms(got), problems)
		}
		if got.Serial <= max(o.Serial, th.Serial) {
			t.Fatalf("serial %d is not past %d and %d", got.Serial, o.Serial, th.Serial)
		}
	})
}
