package state

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxSize caps the state file Decode and Load accept. Ten thousand attachments take about
// 4 MiB, so anything this large is not a desksync state and is not read into memory.
const MaxSize = 64 << 20

// New returns an empty state for site with a fresh random lineage and serial 0.
func New(site string) *State {
	return &State{
		Version:     Version,
		Lineage:     newUUID(),
		Site:        site,
		Attachments: map[string]*Attachment{},
	}
}

// newUUID returns a random (version 4) UUID; crypto/rand never fails on supported systems.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Decode parses a state file. It reads the version first, so a file from a newer desksync
// fails with *VersionError whatever else it contains; anything else wrong is a
// *CorruptError. Decode never panics.
func Decode(data []byte) (*State, error) {
	if len(data) > MaxSize {
		return nil, &CorruptError{Msg: fmt.Sprintf("file is %d bytes, more than the %d MiB a state file may have", len(data), MaxSize>>20)}
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		if len(t) == 0 {
			return nil, &CorruptError{Line: 1, Column: 1, Msg: "file is empty"}
		}
		line, col := position(data, len(data)-len(t))
		return nil, &CorruptError{Line: line, Column: col, Msg: "not a JSON object"}
	}
	var head struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(data, err)
	}
	if head.Version == nil {
		return nil, &CorruptError{Field: "version", Msg: "missing"}
	}
	v, err := strconv.Atoi(string(head.Version))
	if err != nil {
		return nil, &CorruptError{Field: "version", Msg: fmt.Sprintf("%s is not a state format version", head.Version)}
	}
	if v > Version {
		return nil, &VersionError{Version: v}
	}
	if v < 1 {
		return nil, &CorruptError{Field: "version", Msg: fmt.Sprintf("%d is not a state format version", v)}
	}
	if err := checkKeys(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s State
	if err := dec.Decode(&s); err != nil {
		return nil, jsonError(data, err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// jsonError turns an encoding/json error into a *CorruptError, with line:column when the
// error carries an offset.
func jsonError(data []byte, err error) error {
	ce := &CorruptError{Msg: strings.TrimPrefix(err.Error(), "json: "), Err: err}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tpe *time.ParseError
	switch {
	case errors.As(err, &tpe):
		ce.Msg = fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-26T10:00:00Z", tpe.Value)
	case errors.As(err, &syn):
		at := int(syn.Offset) - 1 // Offset counts the offending byte
		if syn.Error() == "unexpected end of JSON input" {
			at = len(data)
			ce.Msg = "unexpected end of input (is the file truncated?)"
		}
		ce.Line, ce.Column = position(data, at)
	case errors.As(err, &typ):
		ce.Line, ce.Column = position(data, int(typ.Offset)-1)
		ce.Field = typ.Field
		ce.Msg = fmt.Sprintf("a JSON %s is not a valid %s", typ.Value, typ.Type)
	}
	return ce
}

// position converts a byte offset into a 1-based line and column (in characters).
func position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCount(before)
}

// validate checks the rules that JSON types alone do not: what Decode refuses and Encode
// will not write. It runs on every Save, so it walks the maps unsorted and sorts only to
// name the first problem by address, for a stable message.
func (s *State) validate() error {
	if s.check(false) == nil {
		return nil
	}
	return s.check(true)
}

func (s *State) check(sorted bool) error {
	bad := func(field, format string, args ...any) error {
		return &CorruptError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if s.Version != Version {
		return bad("version", "%d is not a state format version this desksync writes", s.Version)
	}
	if s.Lineage == "" {
		return bad("lineage", "missing")
	}
	if s.Serial < 0 {
		return bad("serial", "%d is negative", s.Serial)
	}
	if s.Attachments == nil {
		return bad("attachments", "missing")
	}
	// Field names are built only on failure: quoting every address cost more than
	// the checks themselves.
	err := eachEntry(s.Attachments, sorted, func(addr string, a *Attachment) error {
		f := func() string { return "attachments[" + strconv.Quote(addr) + "]" }
		switch {
		case addr == "":
			return bad(f(), "empty address")
		case a == nil:
			return bad(f(), "null")
		case a.ID <= 0:
			return bad(f()+".id", "%d is not a Desk file id", a.ID)
		case !isBlake3(a.Blake3):
			return bad(f()+".blake3", "%q is not 64 lowercase hex digits", a.Blake3)
		case a.Size < 0:
			return bad(f()+".size", "%d is negative", a.Size)
		case !timeOK(a.UploadedAt):
			return timeError(f()+".uploadedAt", a.UploadedAt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = eachEntry(s.Pending, sorted, func(addr string, p *Pending) error {
		f := func() string { return "pending[" + strconv.Quote(addr) + "]" }
		switch {
		case addr == "":
			return bad(f(), "empty address")
		case p == nil:
			return bad(f(), "null")
		case p.ID <= 0:
			return bad(f()+".id", "%d is not a Desk file id", p.ID)
		case !isBlake3(p.Blake3):
			return bad(f()+".blake3", "%q is not 64 lowercase hex digits", p.Blake3)
		case !timeOK(p.StartedAt):
			return timeError(f()+".startedAt", p.StartedAt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, d := range s.Deposed {
		f := func() string { return fmt.Sprintf("deposed[%d]", i) }
		switch {
		case d.Address == "":
			return bad(f()+".address", "empty address")
		case d.ID <= 0:
			return bad(f()+".id", "%d is not a Desk file id", d.ID)
		case !timeOK(d.Since):
			return timeError(f()+".since", d.Since)
		}
	}
	return nil
}

// eachEntry calls check for every entry of m, in key order when sorted, and returns the
// first error.
func eachEntry[V any](m map[string]V, sorted bool, check func(string, V) error) error {
	if !sorted {
		for k, v := range m {
			if err := check(k, v); err != nil {
				return err
			}
		}
		return nil
	}
	for _, k := range sortedKeys(m) {
		if err := check(k, m[k]); err != nil {
			return err
		}
	}
	return nil
}

// timeOK reports whether RFC 3339 in UTC can spell t (an offset can push year 0 into
// year -1), so that whatever Decode accepts, Encode can write.
func timeOK(t time.Time) bool {
	y := t.UTC().Year()
	return 0 <= y && y <= 9999
}

func timeError(field string, t time.Time) error {
	return &CorruptError{Field: field, Msg: fmt.Sprintf("year %d is outside 0000-9999 in UTC", t.UTC().Year())}
}

func isBlake3(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Encode returns the state file's bytes: the layout Python's
// json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n" produces, with times
// in UTC. It refuses a state that Decode would refuse.
//
// apply saves the whole state after every action, so this is on the path of every
// upload: the fields are written by hand, in the order of their JSON names, rather than
// found by reflection, which took 3–6 ms for 1,000 attachments against well under one
// here. encode_test.go checks the result against a reflection-driven encoder that follows
// the struct tags, so a field added to the types without being added here fails the tests.
func (s *State) Encode() ([]byte, error) {
	return s.appendEncoded(nil)
}

// appendEncoded appends what Encode returns to b.
func (s *State) appendEncoded(b []byte) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("refusing to encode an invalid state: %w", err)
	}
	b = slices.Grow(b, 256+400*len(s.Attachments)+200*len(s.Pending)+150*len(s.Deposed))
	b = s.appendJSON(b)
	return append(b, '\n'), nil
}

// appendJSON writes s at the top level, keys sorted: attachments, deposed, lineage,
// pending, serial, site, version; deposed and pending are omitted when empty
// (omitempty). validate has refused nil entries and unwritable times.
func (s *State) appendJSON(b []byte) []byte {
	b = field(b, '{', 1, `"attachments": `)
	if len(s.Attachments) == 0 {
		b = append(b, "{}"...)
	} else {
		for i, addr := range sortedKeys(s.Attachments) {
			b = key(b, sep(i, '{'), 2, addr)
			b = s.Attachments[addr].appendJSON(b, 2)
		}
		b = closing(b, 1, '}')
	}
	if len(s.Deposed) > 0 {
		b = field(b, ',', 1, `"deposed": `)
		for i := range s.Deposed {
			b = newline(append(b, sep(i, '[')), 2)
			b = s.Deposed[i].appendJSON(b, 2)
		}
		b = closing(b, 1, ']')
	}
	b = appendString(field(b, ',', 1, `"lineage": `), s.Lineage)
	if len(s.Pending) > 0 {
		b = field(b, ',', 1, `"pending": `)
		for i, addr := range sortedKeys(s.Pending) {
			b = key(b, sep(i, '{'), 2, addr)
			b = s.Pending[addr].appendJSON(b, 2)
		}
		b = closing(b, 1, '}')
	}
	b = strconv.AppendInt(field(b, ',', 1, `"serial": `), s.Serial, 10)
	b = appendString(field(b, ',', 1, `"site": `), s.Site)
	b = strconv.AppendInt(field(b, ',', 1, `"version": `), int64(s.Version), 10)
	return closing(b, 0, '}')
}

func (a *Attachment) appendJSON(b []byte, depth int) []byte {
	d := depth + 1
	b = appendHex(field(b, '{', d, `"blake3": `), a.Blake3)
	b = appendString(field(b, ',', d, `"disposition": `), a.Disposition)
	b = appendString(field(b, ',', d, `"filename": `), a.Filename)
	b = strconv.AppendInt(field(b, ',', d, `"id": `), a.ID, 10)
	b = appendString(field(b, ',', d, `"mimeType": `), a.MimeType)
	b = strconv.AppendInt(field(b, ',', d, `"size": `), a.Size, 10)
	b = appendString(field(b, ',', d, `"state": `), a.State)
	b = appendString(field(b, ',', d, `"type": `), a.Type)
	b = appendTime(field(b, ',', d, `"uploadedAt": `), a.UploadedAt)
	return closing(b, depth, '}')
}

func (p *Pending) appendJSON(b []byte, depth int) []byte {
	d := depth + 1
	b = appendHex(field(b, '{', d, `"blake3": `), p.Blake3)
	if p.Filename != "" {
		b = appendString(field(b, ',', d, `"filename": `), p.Filename)
	}
	b = strconv.AppendInt(field(b, ',', d, `"id": `), p.ID, 10)
	if p.Size != 0 {
		b = strconv.AppendInt(field(b, ',', d, `"size": `), p.Size, 10)
	}
	b = appendTime(field(b, ',', d, `"startedAt": `), p.StartedAt)
	return closing(b, depth, '}')
}

func (x *Deposed) appendJSON(b []byte, depth int) []byte {
	d := depth + 1
	b = appendString(field(b, '{', d, `"address": `), x.Address)
	if x.Filename != "" {
		b = appendString(field(b, ',', d, `"filename": `), x.Filename)
	}
	b = strconv.AppendInt(field(b, ',', d, `"id": `), x.ID, 10)
	b = appendTime(field(b, ',', d, `"since": `), x.Since)
	if x.Size != 0 {
		b = strconv.AppendInt(field(b, ',', d, `"size": `), x.Size, 10)
	}
	return closing(b, depth, '}')
}

// sep is the byte before the i-th member of an object or array: its opening bracket
// for the first, a comma after that.
func sep(i int, open byte) byte {
	if i == 0 {
		return open
	}
	return ','
}

// key writes before (an opening bracket or a comma), a line break indented for depth,
// then name as an object key and the colon.
func key(b []byte, before byte, depth int, name string) []byte {
	b = newline(append(b, before), depth)
	return append(appendString(b, name), ':', ' ')
}

// field is key for a field name, given already quoted and followed by the colon:
// state field names need no escaping, and quoting them on every save was a third of
// the work.
func field(b []byte, before byte, depth int, quoted string) []byte {
	return append(newline(append(b, before), depth), quoted...)
}

// closing ends a non-empty object or array whose members were at depth+1.
func closing(b []byte, depth int, c byte) []byte {
	return append(newline(b, depth), c)
}

func newline(b []byte, depth int) []byte {
	b = append(b, '\n')
	for range depth {
		b = append(b, ' ', ' ')
	}
	return b
}

// appendHex writes a string validate has checked to be hex digits, which need no
// escaping: half of what an attachment holds.
func appendHex(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime writes t in UTC as an RFC 3339 string with as many fractional digits as it
// needs, which is what encoding/json writes and Decode reads. validate has checked that
// the year has four digits.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString quotes s as Python's json does with ensure_ascii=False: only the quote, the
// backslash and control characters are escaped (unlike encoding/json, which also escapes
// U+2028 and U+2029). Invalid UTF-8 becomes U+FFFD, as encoding/json would decode it.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	plain := 0 // s[plain:i] needs no escaping and is not yet written
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[plain:i]...)
				b = utf8.AppendRune(b, utf8.RuneError)
				plain = i + 1
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[plain:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		plain = i
	}
	b = append(b, s[plain:]...)
	return append(b, '"')
}
