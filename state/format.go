package state

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
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
	order := func(keys []string) []string {
		if sorted {
			slices.Sort(keys)
		}
		return keys
	}
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
	for _, addr := range order(slices.Collect(maps.Keys(s.Attachments))) {
		a := s.Attachments[addr]
		f := "attachments[" + strconv.Quote(addr) + "]"
		switch {
		case addr == "":
			return bad(f, "empty address")
		case a == nil:
			return bad(f, "null")
		case a.ID <= 0:
			return bad(f+".id", "%d is not a Desk file id", a.ID)
		case !isBlake3(a.Blake3):
			return bad(f+".blake3", "%q is not 64 lowercase hex digits", a.Blake3)
		case a.Size < 0:
			return bad(f+".size", "%d is negative", a.Size)
		}
		if err := checkTime(f+".uploadedAt", a.UploadedAt); err != nil {
			return err
		}
	}
	for _, addr := range order(slices.Collect(maps.Keys(s.Pending))) {
		p := s.Pending[addr]
		f := "pending[" + strconv.Quote(addr) + "]"
		switch {
		case addr == "":
			return bad(f, "empty address")
		case p == nil:
			return bad(f, "null")
		case p.ID <= 0:
			return bad(f+".id", "%d is not a Desk file id", p.ID)
		case !isBlake3(p.Blake3):
			return bad(f+".blake3", "%q is not 64 lowercase hex digits", p.Blake3)
		}
		if err := checkTime(f+".startedAt", p.StartedAt); err != nil {
			return err
		}
	}
	for i, d := range s.Deposed {
		f := fmt.Sprintf("deposed[%d]", i)
		switch {
		case d.Address == "":
			return bad(f+".address", "empty address")
		case d.ID <= 0:
			return bad(f+".id", "%d is not a Desk file id", d.ID)
		}
		if err := checkTime(f+".since", d.Since); err != nil {
			return err
		}
	}
	return nil
}

// checkTime refuses times that RFC 3339 in UTC cannot spell (an offset can push year 0
// into year -1), so whatever Decode accepts, Encode can write.
func checkTime(field string, t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return &CorruptError{Field: field, Msg: fmt.Sprintf("year %d is outside 0000-9999 in UTC", y)}
	}
	return nil
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
func (s *State) Encode() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("refusing to encode an invalid state: %w", err)
	}
	var b bytes.Buffer
	b.Grow(256 + 400*len(s.Attachments))
	e := encoder{b: &b, fields: map[reflect.Type][]field{}}
	if err := e.value(reflect.ValueOf(s).Elem(), 0); err != nil {
		return nil, fmt.Errorf("encoding state: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// encoder writes Go values in Python's json.dumps layout straight from the typed state,
// following the json tags (names, omitempty) the way encoding/json does. Going through
// encoding/json and a generic tree is simpler but five times slower, and apply saves the
// state after every action.
type encoder struct {
	b      *bytes.Buffer
	fields map[reflect.Type][]field // struct fields sorted by JSON name, per type
}

type field struct {
	name      string
	index     int
	omitEmpty bool
}

var timeType = reflect.TypeFor[time.Time]()

func (e *encoder) value(v reflect.Value, depth int) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.b.WriteString("null")
			return nil
		}
		return e.value(v.Elem(), depth)
	case reflect.String:
		writeString(e.b, v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Bool:
		e.b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time).UTC()
			if y := t.Year(); y < 0 || y > 9999 {
				return fmt.Errorf("time %v: year outside 0000-9999", t)
			}
			writeString(e.b, t.Format(time.RFC3339Nano))
			return nil
		}
		return e.object(v, depth)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("cannot encode %s", v.Type())
		}
		if v.Len() == 0 {
			e.b.WriteString("{}")
			return nil
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteByte(',')
			}
			newline(e.b, depth+1)
			writeString(e.b, k.String())
			e.b.WriteString(": ")
			if err := e.value(v.MapIndex(k), depth+1); err != nil {
				return err
			}
		}
		newline(e.b, depth)
		e.b.WriteByte('}')
	case reflect.Slice:
		if v.IsNil() {
			e.b.WriteString("null")
			return nil
		}
		if v.Len() == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				e.b.WriteByte(',')
			}
			newline(e.b, depth+1)
			if err := e.value(v.Index(i), depth+1); err != nil {
				return err
			}
		}
		newline(e.b, depth)
		e.b.WriteByte(']')
	default:
		// Anything else (a float, say) would need encoding/json's exact formatting rules;
		// whoever adds such a field to the state adds it here, and the tests will say so.
		return fmt.Errorf("cannot encode %s", v.Type())
	}
	return nil
}

func (e *encoder) object(v reflect.Value, depth int) error {
	fields, ok := e.fields[v.Type()]
	if !ok {
		fields = structFields(v.Type())
		e.fields[v.Type()] = fields
	}
	n := 0
	for _, f := range fields {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		if n == 0 {
			e.b.WriteByte('{')
		} else {
			e.b.WriteByte(',')
		}
		n++
		newline(e.b, depth+1)
		writeString(e.b, f.name)
		e.b.WriteString(": ")
		if err := e.value(fv, depth+1); err != nil {
			return err
		}
	}
	if n == 0 {
		e.b.WriteString("{}")
		return nil
	}
	newline(e.b, depth)
	e.b.WriteByte('}')
	return nil
}

// structFields lists t's exported fields under their JSON names, sorted.
func structFields(t reflect.Type) []field {
	var fields []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, field{name: name, index: i, omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	return fields
}

// isEmpty is encoding/json's notion of empty for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func newline(b *bytes.Buffer, depth int) {
	b.WriteByte('\n')
	for range depth {
		b.WriteString("  ")
	}
}

// writeString quotes s as Python's json does with ensure_ascii=False: only the quote, the
// backslash and control characters are escaped (unlike encoding/json, which also escapes
// U+2028 and U+2029). Invalid UTF-8 becomes U+FFFD, as encoding/json would decode it.
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		i++
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
