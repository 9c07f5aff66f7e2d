package state

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestMergeInvariants merges generated BASE/OURS/THEIRS triples, each side a random
// variation of BASE (or, now and then, a state of its own), as a branch could commit them,
// and checks the invariants Merge documents on every result. The Desk IDs and addresses
// come from small pools, so that the sides keep colliding in every way: one ID on
// different records, one address holding different IDs.
func TestMergeInvariants(t *testing.T) {
	n := 2000
	if os.Getenv("DESKSYNC_LONG_TESTS") == "1" {
		n = 100000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for i := 0; checked < n; i++ {
		if i > 20*n {
			t.Fatalf("only %d of %d generated triples were valid states", checked, i)
		}
		base := genRecords(rng, nil)
		b, o, th := buildState(3, base), buildState(4, genRecords(rng, base)), buildState(5, genRecords(rng, base))
		if b == nil || o == nil || th == nil {
			continue
		}
		if rng.IntN(10) == 0 {
			b = nil // no common ancestor
		}
		checked++
		got, notes, err := Merge(b, o, th, mergeAt)
		if err != nil {
			t.Fatalf("Merge(%q, %q, %q): %v", termsOf(b), terms(o), terms(th), err)
		}
		if problems := mergeInvariants(b, o, th, got); len(problems) > 0 {
			t.Fatalf("Merge(base %q, ours %q, theirs %q) = %q (notes %q):\n%v",
				termsOf(b), terms(o), terms(th), terms(got), notes, problems)
		}
	}
}

// genRecord is where a generated state holds one Desk ID.
type genRecord struct {
	kind, addr string
	renamed    bool
}

// genRecords returns a random set of records by Desk ID: a fresh one when from is nil,
// else from with a few IDs dropped, added, moved, renamed or turned into another kind.
func genRecords(rng *rand.Rand, from map[int64]genRecord) map[int64]genRecord {
	kinds := []string{"att", "att", "att", "pending", "deposed"}
	addrs := []string{"a", "b", "c", "d"}
	random := func() genRecord {
		return genRecord{kinds[rng.IntN(len(kinds))], addrs[rng.IntN(len(addrs))], rng.IntN(4) == 0}
	}
	out := map[int64]genRecord{}
	if from == nil || rng.IntN(8) == 0 {
		for id := int64(1); id <= 6; id++ {
			if rng.IntN(2) == 0 {
				out[id] = random()
			}
		}
		return out
	}
	for id, r := range from {
		out[id] = r
	}
	for range rng.IntN(4) {
		id := int64(1 + rng.IntN(9))
		r, ok := out[id]
		switch op := rng.IntN(5); {
		case op == 0 || !ok:
			out[id] = random()
		case op == 1:
			delete(out, id)
		case op == 2:
			r.addr = addrs[rng.IntN(len(addrs))]
			out[id] = r
		case op == 3:
			r.renamed = !r.renamed
			out[id] = r
		default:
			r.kind = kinds[rng.IntN(len(kinds))]
			out[id] = r
		}
	}
	return out
}

// buildState makes a state of recs, or nil when they are not one (two attachments or two
// pending uploads at one address).
func buildState(serial int64, recs map[int64]genRecord) *State {
	var ts []string
	seen := map[string]bool{}
	for _, id := range slices.Sorted(mapKeys(recs)) {
		r := recs[id]
		term := fmt.Sprintf("%s=%d", r.addr, id)
		if r.renamed {
			term += "~renamed"
		}
		if r.kind != "att" {
			term = r.kind + ":" + term
		}
		if r.kind != "deposed" && seen[r.kind+r.addr] {
			return nil
		}
		seen[r.kind+r.addr] = true
		ts = append(ts, term)
	}
	s := ms(serial, ts...)
	if s.validate() != nil {
		return nil
	}
	return s
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func termsOf(s *State) string {
	if s == nil {
		return "<none>"
	}
	return terms(s)
}

// mergeInvariants returns how got, the merge of ours and theirs from base, breaks the
// invariants Merge documents:
//   - a Desk ID OURS holds as an attachment is not a pending or deposed record of got;
//   - no Desk ID is on two records;
//   - no orphan: an ID an input holds as an attachment is on a record of got unless a
//     side removed it since base (had it at base, has no record of it);
//   - got holds no Desk ID that no input holds.
func mergeInvariants(base, ours, theirs, got *State) []string {
	if base == nil || base.Lineage != ours.Lineage {
		base = &State{}
	}
	var problems []string
	inBase, inOurs, inTheirs, inGot := recordsByID(base), recordsByID(ours), recordsByID(theirs), recordsByID(got)
	for id, recs := range inGot {
		if len(recs) > 1 {
			problems = append(problems, fmt.Sprintf("Desk file %d is on %d records: %v", id, len(recs), recs))
		}
		if len(inBase[id])+len(inOurs[id])+len(inTheirs[id]) == 0 {
			problems = append(problems, fmt.Sprintf("Desk file %d is in no input", id))
		}
	}
	for addr, a := range ours.Attachments {
		for _, r := range inGot[a.ID] {
			if r.kind != "attachment" {
				problems = append(problems, fmt.Sprintf("Desk file %d, OURS's attachment %s, ends as a %s record at %s", a.ID, addr, r.kind, r.address))
			}
		}
	}
	removed := func(id int64) bool {
		return len(inBase[id]) > 0 && (len(inOurs[id]) == 0 || len(inTheirs[id]) == 0)
	}
	for _, side := range []struct {
		name string
		s    *State
	}{{"BASE", base}, {"OURS", ours}, {"THEIRS", theirs}} {
		for addr, a := range side.s.Attachments {
			if len(inGot[a.ID]) == 0 && !removed(a.ID) {
				problems = append(problems, fmt.Sprintf("Desk file %d, %s's attachment %s, is orphaned: on no record, and no side removed it", a.ID, side.name, addr))
			}
		}
	}
	slices.Sort(problems)
	return problems
}
