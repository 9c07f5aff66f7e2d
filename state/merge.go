package state

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// MergeError reports two states that cannot be merged: they are not the same state (another
// lineage or site). OURS is left as it was.
type MergeError struct {
	Field        string // "lineage" or "site"
	Ours, Theirs string
}

func (e *MergeError) Error() string {
	return fmt.Sprintf("cannot merge states of different %ss: OURS has %q, THEIRS has %q", e.Field, e.Ours, e.Theirs)
}

// Hint tells the user how to resolve the conflict by hand.
func (e *MergeError) Hint() string {
	return "these are two different states, not two versions of one: keep one side (git checkout --ours or --theirs desksync.state.json), then import the other side's files with \"desksync import\" or delete them on Desk"
}

// Merge combines ours and theirs, two states that diverged from base (git's three-way
// merge; base is nil when they have no common ancestor). It returns the merged state, based
// on ours, with serial max(ours, theirs)+1, and one note for every choice it had to make.
//
// Per address, a record changed on one side only takes that side's. Where both sides put a
// different Desk file at one address, OURS's record stays and THEIRS's file is deposed, so
// the next apply deletes it instead of leaving it on Desk untracked. pending and deposed are
// merged the same way, keeping what either side added. since is the time recorded on the
// deposed records Merge adds.
//
// A state on a branch is whatever that branch's commits say, so THEIRS is not trusted to
// schedule deletions of files OURS uses. Whatever THEIRS holds, the result keeps these
// invariants (checked by TestMergeInvariants over generated triples and by FuzzMerge):
//   - a Desk ID OURS holds as an attachment is never a pending or deposed record of the
//     result (it stays an attachment, or goes if THEIRS deleted the file): only OURS's
//     own records may turn its live file into a cleanup, whatever THEIRS removed or
//     added for that ID;
//   - every Desk ID is on at most one record, and where the inputs disagree about a file,
//     OURS's record of it wins, then a live record over a pending or deposed one;
//   - no Desk ID that an input holds vanishes from the result unless one side removed it
//     since base (deleted it on Desk, or forgot it on purpose): a file nobody removed
//     stays tracked, so it is not left on Desk with no record.
func Merge(base, ours, theirs *State, since time.Time) (*State, []string, error) {
	if ours.Lineage != theirs.Lineage {
		return nil, nil, &MergeError{Field: "lineage", Ours: ours.Lineage, Theirs: theirs.Lineage}
	}
	if ours.Site != theirs.Site {
		return nil, nil, &MergeError{Field: "site", Ours: ours.Site, Theirs: theirs.Site}
	}
	var notes []string
	if base != nil && base.Lineage != ours.Lineage {
		notes = append(notes, fmt.Sprintf("the common ancestor has another lineage (%s): merged as if both sides added every record", base.Lineage))
		base = nil
	}
	if base == nil {
		base = &State{}
	}
	for _, side := range []struct {
		name string
		s    *State
	}{{"OURS", ours}, {"THEIRS", theirs}} {
		if side.s.Serial >= MaxSerial {
			return nil, nil, &CorruptError{Msg: fmt.Sprintf("%s's serial %d leaves no room for the merged state's (at most %d)", side.name, side.s.Serial, int64(MaxSerial)),
				fix: serialFix}
		}
	}
	m := &merger{base: base, ours: ours, theirs: theirs, since: since.UTC()}
	out := &State{
		Version:     Version,
		Lineage:     ours.Lineage,
		Serial:      max(ours.Serial, theirs.Serial) + 1,
		Site:        ours.Site,
		Attachments: m.attachments(),
		Pending:     m.pending(),
	}
	out.Deposed = append(m.deposedUnion(), m.deposed...)
	m.keepOursLive(out)
	m.reconcile(out)
	slices.SortStableFunc(out.Deposed, func(a, b Deposed) int {
		return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.ID, b.ID))
	})
	if len(out.Pending) == 0 {
		out.Pending = nil
	}
	if len(out.Deposed) == 0 {
		out.Deposed = nil
	}
	if _, err := out.Encode(); err != nil {
		return nil, nil, fmt.Errorf("merged state is not valid: %w", err)
	}
	return out, append(notes, m.notes...), nil
}

type merger struct {
	base, ours, theirs *State
	since              time.Time
	deposed            []Deposed // THEIRS's files deposed by address clashes
	notes              []string
}

func (m *merger) note(format string, args ...any) {
	m.notes = append(m.notes, fmt.Sprintf(format, args...))
}

// attachments merges the active records address by address.
func (m *merger) attachments() map[string]*Attachment {
	out := map[string]*Attachment{}
	for _, addr := range unionKeys(m.base.Attachments, m.ours.Attachments, m.theirs.Attachments) {
		b, o, t := m.base.Attachments[addr], m.ours.Attachments[addr], m.theirs.Attachments[addr]
		var keep *Attachment
		switch {
		case sameAttachment(o, t), sameAttachment(b, t):
			keep = o
		case sameAttachment(b, o):
			keep = t
		case t == nil:
			keep = o // changed by ours, removed by theirs: ours's record stays
		case o != nil && o.ID == t.ID:
			keep = o // one Desk file, described differently: ours's description stays
			m.note("%s: both sides changed Desk file %d; kept OURS's record (the next plan updates it if the manifest differs)", addr, o.ID)
		case b != nil && b.ID == t.ID && o != nil:
			// OURS replaced the file that THEIRS only described differently: OURS's new
			// file stays, and the old one is OURS's to have deleted.
			keep = o
			m.note("%s: OURS replaced Desk file %d with %d, THEIRS changed its record of %d; kept OURS's Desk file %d", addr, t.ID, o.ID, t.ID, o.ID)
		case b != nil && b.ID == t.ID:
			// OURS removed the file that THEIRS only described differently.
			m.note("%s: OURS removed it, THEIRS changed its record of Desk file %d; left removed", addr, t.ID)
		default:
			// THEIRS put a Desk file here that OURS does not have: delete it, so that
			// nothing is left on Desk that no state tracks.
			keep = o
			m.deposed = append(m.deposed, Deposed{Address: addr, ID: t.ID, Filename: t.Filename, Size: t.Size, Since: m.since})
			if o == nil {
				m.note("%s: OURS removed it, THEIRS uploaded Desk file %d; deposed %d (the next apply deletes it)", addr, t.ID, t.ID)
			} else {
				m.note("%s: both sides uploaded a file; kept OURS's Desk file %d, deposed THEIRS's %d (the next apply deletes it)", addr, o.ID, t.ID)
			}
		}
		if keep != nil {
			c := *keep
			out[addr] = &c
		}
	}
	return out
}

// pending merges the interrupted uploads: an entry either side added (or renewed) stays
// unless the other side resolved the same entry.
func (m *merger) pending() map[string]*Pending {
	out := map[string]*Pending{}
	for _, addr := range unionKeys(m.base.Pending, m.ours.Pending, m.theirs.Pending) {
		b, o, t := m.base.Pending[addr], m.ours.Pending[addr], m.theirs.Pending[addr]
		var keep *Pending
		switch {
		case samePending(o, t), samePending(b, t):
			keep = o
		case samePending(b, o):
			keep = t
		case o == nil:
			keep = t
		case t == nil:
			keep = o
		default:
			keep = o
			if t.ID != o.ID {
				// Two temp files for one address: track THEIRS's as deposed so it is deleted.
				m.deposed = append(m.deposed, Deposed{Address: addr, ID: t.ID, Filename: t.Filename, Size: t.Size, Since: m.since})
				m.note("%s: both sides have an interrupted upload; kept OURS's Desk file %d, deposed THEIRS's %d", addr, o.ID, t.ID)
			}
		}
		if keep != nil {
			c := *keep
			out[addr] = &c
		}
	}
	return out
}

// deposedUnion merges the files waiting for deletion by Desk ID: one that either side added
// stays, one that either side deleted (or that base had and a side dropped) goes.
func (m *merger) deposedUnion() []Deposed {
	inBase := depositIDs(m.base.Deposed)
	inOurs := depositIDs(m.ours.Deposed)
	inTheirs := depositIDs(m.theirs.Deposed)
	var out []Deposed
	seen := map[int64]bool{}
	for _, side := range [][]Deposed{m.ours.Deposed, m.theirs.Deposed} {
		for _, d := range side {
			if seen[d.ID] || inBase[d.ID] && (!inOurs[d.ID] || !inTheirs[d.ID]) {
				continue
			}
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

func depositIDs(ds []Deposed) map[int64]bool {
	ids := make(map[int64]bool, len(ds))
	for _, d := range ds {
		ids[d.ID] = true
	}
	return ids
}

// record is where a Desk ID sits in a state: an attachment, a pending upload or a deposed
// file, at an address.
type record struct {
	kind    string // "attachment", "pending" or "deposed"
	address string
}

// recordsByID lists where each Desk ID sits in s.
func recordsByID(s *State) map[int64][]record {
	ids := map[int64][]record{}
	for addr, a := range s.Attachments {
		ids[a.ID] = append(ids[a.ID], record{"attachment", addr})
	}
	for addr, p := range s.Pending {
		ids[p.ID] = append(ids[p.ID], record{"pending", addr})
	}
	for _, d := range s.Deposed {
		ids[d.ID] = append(ids[d.ID], record{"deposed", d.Address})
	}
	return ids
}

// keepOursLive puts back every attachment OURS holds that the per-record merge left as a
// cleanup or dropped, unless THEIRS deleted that file: had it at base and has no record of
// it now. THEIRS removing the record and deposing the file or making it pending is what a
// branch can write to get a file OURS uses deleted, so a removal that comes with a cleanup
// of the same ID is not taken as a deletion. A file of THEIRS that held OURS's address
// meanwhile is deposed, as in any clash of two files at one address. It runs to a fixed
// point, since deposing a file can take the last live record of another of OURS's.
func (m *merger) keepOursLive(out *State) {
	inBase, inTheirs := recordsByID(m.base), recordsByID(m.theirs)
	for changed := true; changed; {
		changed = false
		live := map[int64]bool{}
		for _, a := range out.Attachments {
			live[a.ID] = true
		}
		for _, addr := range sortedKeys(m.ours.Attachments) {
			o := m.ours.Attachments[addr]
			if live[o.ID] || len(inBase[o.ID]) > 0 && len(inTheirs[o.ID]) == 0 {
				continue
			}
			if t := out.Attachments[addr]; t != nil {
				out.Deposed = append(out.Deposed, Deposed{Address: addr, ID: t.ID, Filename: t.Filename, Size: t.Size, Since: m.since})
				m.note("%s: deposed THEIRS's Desk file %d to keep OURS's %d at this address (the next apply deletes %d)", addr, t.ID, o.ID, t.ID)
				delete(live, t.ID)
			}
			if recs := inTheirs[o.ID]; len(recs) > 0 && recs[0].kind != "attachment" {
				m.note("%s: THEIRS made Desk file %d, which OURS holds, a %s record at %s; kept OURS's record, so nothing deletes it", addr, o.ID, recs[0].kind, recs[0].address)
			}
			c := *o
			out.Attachments[addr] = &c
			live[o.ID] = true
			changed = true
		}
	}
}

// reconcile leaves every Desk ID on at most one record of out. Where the sides disagree
// about a file, the record kept is OURS's own, else a live one (a move THEIRS made of a
// file OURS left alone), else the first in a fixed order; a record of an ID that OURS
// removed since base is dropped. Dropping never orphans a file, since the record kept (or
// OURS's removal) accounts for it.
func (m *merger) reconcile(out *State) {
	inBase, inOurs := recordsByID(m.base), recordsByID(m.ours)
	for id, recs := range recordsByID(out) {
		if len(inOurs[id]) == 0 && len(inBase[id]) > 0 {
			m.drop(out, id, recs, "which OURS removed")
			continue
		}
		if len(recs) < 2 {
			continue
		}
		slices.SortFunc(recs, func(a, b record) int {
			return cmp.Or(
				-cmpBool(slices.Contains(inOurs[id], a), slices.Contains(inOurs[id], b)),
				-cmpBool(a.kind == "attachment", b.kind == "attachment"),
				cmp.Compare(a.kind, b.kind), cmp.Compare(a.address, b.address))
		})
		who := "the merged state"
		if slices.Contains(inOurs[id], recs[0]) {
			who = "OURS"
		}
		m.drop(out, id, recs[1:], fmt.Sprintf("which %s keeps as %s %s", who, recs[0].kind, recs[0].address))
	}
}

// drop removes recs, records of Desk file id, from out, with a note saying why.
func (m *merger) drop(out *State, id int64, recs []record, why string) {
	for _, r := range recs {
		switch r.kind {
		case "attachment":
			delete(out.Attachments, r.address)
		case "pending":
			delete(out.Pending, r.address)
		case "deposed":
			// One record at a time: a file can be deposed twice at one address (by OURS,
			// and again by a clash), and the first, OURS's if any, is the one kept.
			for i := len(out.Deposed) - 1; i >= 0; i-- {
				if d := out.Deposed[i]; d.ID == id && d.Address == r.address {
					out.Deposed = slices.Delete(out.Deposed, i, i+1)
					break
				}
			}
		}
		m.note("%s: dropped THEIRS's %s record of Desk file %d, %s", r.address, r.kind, id, why)
	}
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func sameAttachment(a, b *Attachment) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if !x.UploadedAt.Equal(y.UploadedAt) {
		return false
	}
	x.UploadedAt, y.UploadedAt = time.Time{}, time.Time{}
	return x == y
}

func samePending(a, b *Pending) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if !x.StartedAt.Equal(y.StartedAt) {
		return false
	}
	x.StartedAt, y.StartedAt = time.Time{}, time.Time{}
	return x == y
}

// unionKeys returns the keys of all the maps, sorted, each once.
func unionKeys[V any](maps ...map[string]V) []string {
	var keys []string
	for _, m := range maps {
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
