package state

import (
	"strings"
	"time"
	"unicode/utf8"
)

// decodePlain reads a state file written the way desksync writes one, without the JSON
// library's reflection and its table of every member name: the records of a large
// state are most of a daily plan's work. It takes only the plainest form of each value
// (strings without escapes, whole numbers, times in UTC, each member once, no null,
// no member it does not know) and says !ok at anything else, for unmarshal to read the
// file instead. Whatever it accepts, unmarshal accepts too and reads the same state;
// FuzzDecodePlain holds the two to that.
//
// Each record is checked on its own as it is read (checkAttachment and the others),
// while it is in the cache; a record that fails is !ok, for validate to name the
// problem. The Desk IDs come back for check's test that none is recorded twice.
func decodePlain(data []byte) (s *State, ids []int64, ok bool) {
	p := plainReader{data: data, interned: map[string]string{}}
	s, ok = p.state()
	if !ok || !p.atEnd() || s.Version < 1 || s.Version > Version {
		return nil, nil, false
	}
	s.Version = Version
	return s, p.ids, true
}

type plainReader struct {
	data []byte
	i    int
	// interned holds the values that repeat in every record (disposition, mimeType,
	// state, type), so that all records share a few strings.
	interned map[string]string
	ids      []int64 // of every record read
	block    []Attachment
}

func (p *plainReader) skipSpace() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// take consumes c, after any white space, and reports whether it was there.
func (p *plainReader) take(c byte) bool {
	p.skipSpace()
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *plainReader) atEnd() bool {
	p.skipSpace()
	return p.i == len(p.data)
}

// raw returns the bytes of a string with no escape and no control character that is
// valid UTF-8.
func (p *plainReader) raw() ([]byte, bool) {
	if !p.take('"') {
		return nil, false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.data); p.i++ {
		switch c := p.data[p.i]; {
		case c == '"':
			b := p.data[start:p.i]
			p.i++
			return b, ascii || utf8.Valid(b)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (p *plainReader) text() (string, bool) {
	b, ok := p.raw()
	return string(b), ok
}

func (p *plainReader) common() (string, bool) {
	b, ok := p.raw()
	if !ok {
		return "", false
	}
	if s, ok := p.interned[string(b)]; ok {
		return s, true
	}
	s := string(b)
	if len(p.interned) < 64 {
		p.interned[s] = s
	}
	return s, true
}

// integer reads a whole number of at most 18 digits, as JSON spells it: no leading
// zero, no fraction, no exponent.
func (p *plainReader) integer() (int64, bool) {
	p.skipSpace()
	neg := p.i < len(p.data) && p.data[p.i] == '-'
	if neg {
		p.i++
	}
	start := p.i
	var n int64
	for p.i < len(p.data) && '0' <= p.data[p.i] && p.data[p.i] <= '9' {
		n = n*10 + int64(p.data[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	switch {
	case digits == 0 || digits > 18 || (digits > 1 && p.data[start] == '0'):
		return 0, false
	case p.i < len(p.data) && (p.data[p.i] == '.' || p.data[p.i] == 'e' || p.data[p.i] == 'E'):
		return 0, false
	case neg:
		return -n, true
	}
	return n, true
}

// utc reads a time as desksync writes it: RFC 3339 in UTC, "2006-01-02T15:04:05Z" with
// at most nine digits of fraction.
func (p *plainReader) utc() (time.Time, bool) {
	b, ok := p.raw()
	if !ok || len(b) < 20 || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	const layout = "dddd-dd-ddTdd:dd:dd"
	for i := range len(layout) {
		if layout[i] == 'd' && !('0' <= b[i] && b[i] <= '9') || layout[i] != 'd' && b[i] != layout[i] {
			return time.Time{}, false
		}
	}
	if frac := b[len(layout) : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		for _, c := range frac[1:] {
			if !('0' <= c && c <= '9') {
				return time.Time{}, false
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}

// object reads an object, calling member for each name with the reader at its value;
// each name is taken once, by its bit in the mask that known returns.
func (p *plainReader) object(known func(name []byte) uint16, member func(bit uint16) bool) bool {
	if !p.take('{') {
		return false
	}
	if p.take('}') {
		return true
	}
	var seen uint16
	for {
		name, ok := p.raw()
		if !ok || !p.take(':') {
			return false
		}
		bit := known(name)
		if bit == 0 || seen&bit != 0 || !member(bit) {
			return false
		}
		seen |= bit
		if !p.take(',') {
			return p.take('}')
		}
	}
}

// records reads an object of records by address, each address once, each record
// passing check. record reads the value after the address, whose bytes it is given,
// and returns the address as a string too, so that it may share an allocation.
func records[R any](p *plainReader, record func(addr []byte) (*R, string, bool), check func(string, *R) error) (map[string]*R, bool) {
	if !p.take('{') {
		return nil, false
	}
	// Sized for about the most records the rest of the file could hold: a map grown
	// by doubling rehashes every record it holds at each step.
	m := make(map[string]*R, (len(p.data)-p.i)/minRecordSize)
	if p.take('}') {
		return m, true
	}
	for {
		addr, ok := p.raw()
		if !ok || !p.take(':') {
			return nil, false
		}
		r, a, ok := record(addr)
		if !ok || check(a, r) != nil {
			return nil, false
		}
		n := len(m)
		if m[a] = r; len(m) == n {
			return nil, false // the address came before
		}
		if !p.take(',') {
			return m, p.take('}')
		}
	}
}

// minRecordSize is about the fewest bytes an attachment record desksync writes takes,
// indented, with its nine members; a smaller one only grows the map.
const minRecordSize = 256

func (p *plainReader) state() (*State, bool) {
	s := &State{}
	ok := p.object(func(name []byte) uint16 {
		switch string(name) {
		case "attachments":
			return 1
		case "deposed":
			return 2
		case "lineage":
			return 4
		case "pending":
			return 8
		case "serial":
			return 16
		case "site":
			return 32
		case "version":
			return 64
		}
		return 0
	}, func(bit uint16) (ok bool) {
		switch bit {
		case 1:
			s.Attachments, ok = records(p, p.attachment, checkAttachment)
		case 2:
			s.Deposed, ok = p.deposed()
		case 4:
			s.Lineage, ok = p.text()
		case 8:
			s.Pending, ok = records(p, p.pending, checkPending)
		case 16:
			s.Serial, ok = p.integer()
		case 32:
			s.Site, ok = p.text()
		case 64:
			var v int64
			v, ok = p.integer()
			ok = ok && 1 <= v && v <= Version // in range before it is an int, which may be 32 bits
			s.Version = int(v)
		}
		return ok
	})
	return s, ok
}

// attachment reads the record of addr. The records come from a block, and the address,
// digest and file name of each share one string: a large state is mostly records, and
// each allocation is paid for every one of them.
func (p *plainReader) attachment(addr []byte) (*Attachment, string, bool) {
	if len(p.block) == 0 {
		p.block = make([]Attachment, 256)
	}
	a := &p.block[0]
	p.block = p.block[1:]
	var digest, filename []byte
	ok := p.object(func(name []byte) uint16 {
		switch string(name) {
		case "blake3":
			return 1
		case "disposition":
			return 2
		case "filename":
			return 4
		case "id":
			return 8
		case "mimeType":
			return 16
		case "size":
			return 32
		case "state":
			return 64
		case "type":
			return 128
		case "uploadedAt":
			return 256
		}
		return 0
	}, func(bit uint16) (ok bool) {
		switch bit {
		case 1:
			digest, ok = p.raw()
		case 2:
			a.Disposition, ok = p.common()
		case 4:
			filename, ok = p.raw()
		case 8:
			a.ID, ok = p.integer()
		case 16:
			a.MimeType, ok = p.common()
		case 32:
			a.Size, ok = p.integer()
		case 64:
			a.State, ok = p.common()
		case 128:
			a.Type, ok = p.common()
		case 256:
			a.UploadedAt, ok = p.utc()
		}
		return ok
	})
	if !ok {
		return nil, "", false
	}
	p.ids = append(p.ids, a.ID)
	var b strings.Builder
	b.Grow(len(addr) + len(digest) + len(filename))
	b.Write(addr)
	b.Write(digest)
	b.Write(filename)
	all := b.String()
	a.Blake3 = all[len(addr) : len(addr)+len(digest)]
	a.Filename = all[len(addr)+len(digest):]
	return a, all[:len(addr)], true
}

func (p *plainReader) pending(addr []byte) (*Pending, string, bool) {
	r := &Pending{}
	ok := p.object(func(name []byte) uint16 {
		switch string(name) {
		case "blake3":
			return 1
		case "filename":
			return 2
		case "id":
			return 4
		case "size":
			return 8
		case "startedAt":
			return 16
		}
		return 0
	}, func(bit uint16) (ok bool) {
		switch bit {
		case 1:
			r.Blake3, ok = p.text()
		case 2:
			r.Filename, ok = p.text()
		case 4:
			r.ID, ok = p.integer()
		case 8:
			r.Size, ok = p.integer()
		case 16:
			r.StartedAt, ok = p.utc()
		}
		return ok
	})
	p.ids = append(p.ids, r.ID)
	return r, string(addr), ok
}

func (p *plainReader) deposed() ([]Deposed, bool) {
	if !p.take('[') {
		return nil, false
	}
	out := []Deposed{}
	if p.take(']') {
		return out, true
	}
	for {
		var d Deposed
		ok := p.object(func(name []byte) uint16 {
			switch string(name) {
			case "address":
				return 1
			case "filename":
				return 2
			case "id":
				return 4
			case "since":
				return 8
			case "size":
				return 16
			}
			return 0
		}, func(bit uint16) (ok bool) {
			switch bit {
			case 1:
				d.Address, ok = p.text()
			case 2:
				d.Filename, ok = p.text()
			case 4:
				d.ID, ok = p.integer()
			case 8:
				d.Since, ok = p.utc()
			case 16:
				d.Size, ok = p.integer()
			}
			return ok
		})
		if !ok || checkDeposed(len(out), d) != nil {
			return nil, false
		}
		p.ids = append(p.ids, d.ID)
		out = append(out, d)
		if !p.take(',') {
			return out, p.take(']')
		}
	}
}
