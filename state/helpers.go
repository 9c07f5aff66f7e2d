package state

import "slices"

// SetPending records that addr's upload has a ref (temp file id p.ID) on Desk but is not
// active yet; it must be durable before the S3 POST.
func (s *State) SetPending(addr string, p Pending) {
	if s.Pending == nil {
		s.Pending = map[string]*Pending{}
	}
	s.Pending[addr] = &p
}

// dropPending forgets addr's pending upload, once its temp file is gone or adopted; with
// id > 0 only while it still names that Desk file.
func (s *State) dropPending(addr string, id int64) {
	if p := s.Pending[addr]; p != nil && (id <= 0 || p.ID == id) {
		delete(s.Pending, addr)
	}
}

// Activate records a as the active Desk file for addr, replacing any previous one, and
// clears addr's pending upload when that was a's ref (a pending upload of another file
// stays, to be cleaned up). For a replace, depose the old file in the same Append.
func (s *State) Activate(addr string, a Attachment) {
	if s.Attachments == nil {
		s.Attachments = map[string]*Attachment{}
	}
	s.Attachments[addr] = &a
	s.dropPending(addr, a.ID)
}

// undepose removes the deposed records of Desk file id after its DELETE succeeded.
func (s *State) undepose(id int64) {
	s.Deposed = slices.DeleteFunc(s.Deposed, func(d Deposed) bool { return d.ID == id })
	if len(s.Deposed) == 0 {
		s.Deposed = nil
	}
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

// Clone returns a deep copy of s, so a caller can keep a snapshot while the state changes.
func (s *State) Clone() *State {
	c := *s
	c.Attachments = cloneEntries(s.Attachments)
	c.Pending = cloneEntries(s.Pending)
	c.Deposed = slices.Clone(s.Deposed)
	return &c
}

// cloneEntries deep-copies m (nil stays nil, a nil entry stays nil).
func cloneEntries[V any](m map[string]*V) map[string]*V {
	if m == nil {
		return nil
	}
	c := make(map[string]*V, len(m))
	for k, v := range m {
		if v != nil {
			cp := *v
			v = &cp
		}
		c[k] = v
	}
	return c
}
