package state

import (
	"slices"
	"time"
)

// SetPending records that addr's upload has a ref (temp file id p.ID) on Desk but is not
// active yet. Save right after, before the S3 POST.
func (s *State) SetPending(addr string, p Pending) {
	if s.Pending == nil {
		s.Pending = map[string]*Pending{}
	}
	s.Pending[addr] = &p
}

// DropPending forgets addr's pending upload, once its temp file is gone or adopted.
func (s *State) DropPending(addr string) {
	delete(s.Pending, addr)
}

// Activate records a as the active Desk file for addr, replacing any previous one, and
// clears addr's pending upload. For a replace, Depose the old id first, so one Save
// records both.
func (s *State) Activate(addr string, a Attachment) {
	if s.Attachments == nil {
		s.Attachments = map[string]*Attachment{}
	}
	s.Attachments[addr] = &a
	delete(s.Pending, addr)
}

// Depose records that Desk file id, formerly addr's, is to be deleted.
func (s *State) Depose(addr string, id int64, now time.Time) {
	s.Deposed = append(s.Deposed, Deposed{Address: addr, ID: id, Since: now})
}

// Undepose removes the deposed entry for Desk file id after its DELETE succeeded. It
// reports whether there was one.
func (s *State) Undepose(id int64) bool {
	n := len(s.Deposed)
	s.Deposed = slices.DeleteFunc(s.Deposed, func(d Deposed) bool { return d.ID == id })
	if len(s.Deposed) == 0 {
		s.Deposed = nil
	}
	return len(s.Deposed) != n
}

// Forget removes addr's attachment and pending upload from the state without touching
// Desk (state rm, and a delete once its DELETE succeeded). It reports whether there was
// anything to remove.
func (s *State) Forget(addr string) bool {
	_, a := s.Attachments[addr]
	_, p := s.Pending[addr]
	delete(s.Attachments, addr)
	delete(s.Pending, addr)
	return a || p
}

// Addresses returns the addresses of the active attachments, sorted.
func (s *State) Addresses() []string {
	return sortedKeys(s.Attachments)
}

// Clone returns a deep copy of s, so a caller can keep a snapshot while apply mutates.
func (s *State) Clone() *State {
	c := *s
	c.Attachments = cloneEntries(s.Attachments)
	c.Pending = cloneEntries(s.Pending)
	if s.Deposed != nil {
		c.Deposed = append([]Deposed(nil), s.Deposed...)
	}
	return &c
}

// cloneEntries deep-copies m (nil stays nil, a nil entry stays nil). The copies share one
// backing array: apply clones the state for every save, and one allocation instead of one
// per entry made that several times cheaper at 1,000 entries.
func cloneEntries[V any](m map[string]*V) map[string]*V {
	if m == nil {
		return nil
	}
	c := make(map[string]*V, len(m))
	vals := make([]V, len(m))
	i := 0
	for k, v := range m {
		if v != nil {
			vals[i] = *v
			v = &vals[i]
			i++
		}
		c[k] = v
	}
	return c
}
