package state

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
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
	last     *Attachment // read before the one being read, for common
}

// skipSpace, raw and integer step through the bytes with a local index: p.i in memory
// would make each step wait for the store of the one before.
func (p *plainReader) skipSpace() {
	i := p.i
	for i < len(p.data) {
		switch p.data[i] {
		case '\n':
			i++
			i += leadingSpaces(p.data[i:]) // the indentation of the next line
			continue
		case ' ', '\t', '\r':
			i++
			continue
		}
		break
	}
	p.i = i
}

// leadingSpaces returns how many bytes at the start of b are ' ', eight at a time.
func leadingSpaces(b []byte) int {
	const spaces = 0x2020202020202020
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if others := binary.LittleEndian.Uint64(b[i:]) ^ spaces; others != 0 {
			return i + bits.TrailingZeros64(others)/8
		}
	}
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
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
	for i := start + plainPrefix(p.data[start:]); i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.i = i + 1
			b := p.data[start:i]
			return b, ascii || utf8.Valid(b)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// plainPrefix returns the length of the run of bytes at the start of b that a JSON
// string holds as they are and that are ASCII: up to the first '"', '\\', control
// character or byte of 0x80 and up. It tests eight bytes at a time: raw reads every
// byte of a state's strings, most of the file.
func plainPrefix(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		quote, backslash := w^('"'*ones), w^('\\'*ones)
		// A byte's high bit is set where it is zero after an xor above, below 0x20, or
		// 0x80 and up. A borrow can set more bits, but only above the first byte found,
		// which is the one returned.
		found := ((quote-ones)&^quote | (backslash-ones)&^backslash | (w-0x20*ones)&^w | w) & highs
		if found != 0 {
			return i + bits.TrailingZeros64(found)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

func (p *plainReader) text() (string, bool) {
	b, ok := p.raw()
	return string(b), ok
}

// common reads a value that records repeat: the string prev (the same member's value
// in the record before) when the bytes are the same, else one from interned.
func (p *plainReader) common(prev string) (string, bool) {
	b, ok := p.raw()
	if !ok {
		return "", false
	}
	if string(b) == prev {
		return prev, true
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
	i := p.i
	neg := i < len(p.data) && p.data[i] == '-'
	if neg {
		i++
	}
	start := i
	var n int64
	for i < len(p.data) && '0' <= p.data[i] && p.data[i] <= '9' {
		n = n*10 + int64(p.data[i]-'0')
		i++
	}
	p.i = i
	digits := i - start
	switch {
	case digits == 0 || digits > 18 || (digits > 1 && p.data[start] == '0'):
		return 0, false
	case i < len(p.data) && (p.data[i] == '.' || p.data[i] == 'e' || p.data[i] == 'E'):
		return 0, false
	case neg:
		return -n, true
	}
	return n, true
}

// utc reads a time as desksync writes it: RFC 3339 in UTC, "2006-01-02T15:04:05Z" with
// at most nine digits of fraction. It takes what time.Parse takes of that form, and
// builds the time itself: Parse is most of the cost of a record.
func (p *plainReader) utc() (time.Time, bool) {
	b, ok := p.raw()
	if !ok || len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, month, day := digits(b[0:4]), digits(b[5:7]), digits(b[8:10])
	hour, minute, sec := digits(b[11:13]), digits(b[14:16]), digits(b[17:19])
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	ns := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		if ns = digits(frac[1:]); ns < 0 {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			ns *= 10
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC), true
}

// digits returns the number b spells in decimal digits, or -1 if it holds anything else.
func digits(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// daysIn returns the number of days in month of year, by the Gregorian calendar.
func daysIn(month, year int) int {
	switch {
	case month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0):
		return 29
	case month == 2:
		return 28
	case month == 4 || month == 6 || month == 9 || month == 11:
		return 30
	}
	return 31
}

// object reads an object whose member names are among names, each at most once,
// calling member with the index of each name and the reader at its value.
func (p *plainReader) object(names []string, member func(k int) bool) bool {
	if !p.take('{') {
		return false
	}
	if p.take('}') {
		return true
	}
	var seen uint16
	for next := 0; ; {
		k := p.memberName(names, next)
		if k < 0 || seen&(1<<k) != 0 || !member(k) {
			return false
		}
		seen |= 1 << k
		next = k + 1
		if !p.take(',') {
			return p.take('}')
		}
	}
}

// memberName reads a member's name and its colon and returns the name's index in
// names, or -1. names[next] is tried first, by comparing bytes: the members of a
// state desksync wrote come in the order of names, and most of a large state is names.
func (p *plainReader) memberName(names []string, next int) int {
	p.skipSpace()
	if next < len(names) {
		n, rest := names[next], p.data[p.i:]
		if len(rest) > len(n)+1 && rest[0] == '"' && string(rest[1:1+len(n)]) == n && rest[1+len(n)] == '"' {
			p.i += len(n) + 2
			if !p.take(':') {
				return -1
			}
			return next
		}
	}
	name, ok := p.raw()
	if !ok || !p.take(':') {
		return -1
	}
	return slices.Index(names, string(name))
}

// layout is the bytes Encode writes around the values of an object at one depth:
// before each member's value (a comma, a new line, the indentation and the name), and
// after the last.
type layout struct {
	leads []string
	end   string
}

func layoutOf(names []string, depth int) layout {
	indent := "\n" + strings.Repeat("  ", depth)
	l := layout{end: indent + "}"}
	for i, n := range names {
		lead := ",\n"
		if i == 0 {
			lead = "{\n"
		}
		l.leads = append(l.leads, lead+indent[1:]+"  \""+n+"\": ")
	}
	return l
}

// attachmentLayout is an attachment record as Encode writes one: two levels down,
// with every member.
var attachmentLayout = layoutOf(attachmentNames, 2)

// asWritten reads an object laid out exactly as l says, calling member for each value
// in turn, and reports whether it was. It spares a large state's records the white
// space and the names read a byte at a time; object reads any other layout.
func (p *plainReader) asWritten(l layout, member func(k int) bool) bool {
	p.skipSpace()
	for k, lead := range l.leads {
		if !bytes.HasPrefix(p.data[p.i:], []byte(lead)) {
			return false
		}
		p.i += len(lead)
		if !member(k) {
			return false
		}
	}
	if !bytes.HasPrefix(p.data[p.i:], []byte(l.end)) {
		return false
	}
	p.i += len(l.end)
	return true
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

// The member names of each kind of object, in the order Encode writes them.
var (
	stateNames      = []string{"attachments", "deposed", "lineage", "pending", "serial", "site", "version"}
	attachmentNames = []string{"blake3", "disposition", "filename", "id", "mimeType", "size", "state", "type", "uploadedAt"}
	pendingNames    = []string{"blake3", "filename", "id", "size", "startedAt"}
	deposedNames    = []string{"address", "filename", "id", "since", "size"}
)

func (p *plainReader) state() (*State, bool) {
	s := &State{}
	ok := p.object(stateNames, func(k int) (ok bool) {
		switch k {
		case 0: // attachments
			s.Attachments, ok = records(p, p.attachment, checkAttachment)
		case 1: // deposed
			s.Deposed, ok = p.deposed()
		case 2: // lineage
			s.Lineage, ok = p.text()
		case 3: // pending
			s.Pending, ok = records(p, p.pending, checkPending)
		case 4: // serial
			s.Serial, ok = p.integer()
		case 5: // site
			s.Site, ok = p.text()
		case 6: // version
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
	prev := p.last
	if prev == nil {
		prev = &Attachment{}
	}
	var digest, filename []byte
	member := func(k int) (ok bool) {
		switch k {
		case 0: // blake3
			digest, ok = p.raw()
		case 1: // disposition
			a.Disposition, ok = p.common(prev.Disposition)
		case 2: // filename
			filename, ok = p.raw()
		case 3: // id
			a.ID, ok = p.integer()
		case 4: // mimeType
			a.MimeType, ok = p.common(prev.MimeType)
		case 5: // size
			a.Size, ok = p.integer()
		case 6: // state
			a.State, ok = p.common(prev.State)
		case 7: // type
			a.Type, ok = p.common(prev.Type)
		case 8: // uploadedAt
			a.UploadedAt, ok = p.utc()
		}
		return ok
	}
	if start := p.i; !p.asWritten(attachmentLayout, member) {
		p.i, *a, digest, filename = start, Attachment{}, nil, nil
		if !p.object(attachmentNames, member) {
			return nil, "", false
		}
	}
	p.ids = append(p.ids, a.ID)
	p.last = a
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
	ok := p.object(pendingNames, func(k int) (ok bool) {
		switch k {
		case 0: // blake3
			r.Blake3, ok = p.text()
		case 1: // filename
			r.Filename, ok = p.text()
		case 2: // id
			r.ID, ok = p.integer()
		case 3: // size
			r.Size, ok = p.integer()
		case 4: // startedAt
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
		ok := p.object(deposedNames, func(k int) (ok bool) {
			switch k {
			case 0: // address
				d.Address, ok = p.text()
			case 1: // filename
				d.Filename, ok = p.text()
			case 2: // id
				d.ID, ok = p.integer()
			case 3: // since
				d.Since, ok = p.utc()
			case 4: // size
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
