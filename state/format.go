package state

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxSize caps the state file Decode and Load accept: anything this large is not a
// desksync state and is not read into memory.
const MaxSize = 64 << 20

// MaxSerial is the largest serial a state, a journal line, a saved plan or a merge input
// may carry: 2^53, past which JSON numbers read as floating point (jq, JavaScript) lose
// precision. A run adds a few serials per file, so a real state never comes near it, and
// a larger one is damage or a crafted file; refusing it on read keeps the serials every
// later run adds from overflowing int64.
const MaxSerial = 1 << 53

// serialFix is the remedy for a serial above MaxSerial.
const serialFix = "no desksync run writes a serial this large (each run adds a few): restore {path} from version control or from its .backup; desksync will not overwrite it"

// bom is the UTF-8 byte order mark some Windows editors put at the start of a file.
var bom = []byte{0xEF, 0xBB, 0xBF}

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
// *CorruptError. A version 1 file comes back as Version. Decode never panics.
func Decode(data []byte) (*State, error) {
	// One parse for a good file: one that decodes whole with a version this desksync
	// reads cannot fail the version-first reading below, which runs only to name what
	// is wrong with any other.
	if len(data) <= MaxSize {
		s, ids, ok := decodePlain(data)
		if ok && s.checkHeader() == nil && !hasDuplicate(ids) {
			return s, nil // each record was checked as it was read
		}
		if !ok {
			s, ok = unmarshalReadable(data)
		}
		if ok {
			if err := s.validate(); err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	return decodeChecked(data)
}

// unmarshalReadable decodes data whole, when it is a state of a version this desksync
// reads, as Version.
func unmarshalReadable(data []byte) (*State, bool) {
	var s State
	if err := json.Unmarshal(data, &s, json.RejectUnknownMembers(true), jsontext.AllowInvalidUTF8(true)); err != nil || s.Version < 1 || s.Version > Version {
		return nil, false
	}
	s.Version = Version
	return &s, true
}

// decodeChecked is Decode reading the version first, for the precise error.
func decodeChecked(data []byte) (*State, error) {
	if len(data) > MaxSize {
		return nil, &CorruptError{Msg: fmt.Sprintf("file is %d bytes, more than the %d MiB a state file may have", len(data), MaxSize>>20)}
	}
	if bytes.HasPrefix(data, bom) {
		return nil, &CorruptError{Line: 1, Column: 1, Msg: "the file starts with a UTF-8 byte order mark (bytes EF BB BF), which JSON does not allow",
			fix: `remove those three bytes and nothing else, e.g. sed -i '1s/^\xEF\xBB\xBF//' {path}, or save it from your editor as "UTF-8" rather than "UTF-8 with BOM"`, fixLocal: true}
	}
	if line, ok := conflictMarker(data); ok {
		return nil, &CorruptError{Line: line, Column: 1, Msg: "git conflict marker: the file is an unmerged git conflict, not a state",
			fix: `git merged {path} line by line because desksync's merge driver is not configured in this clone: add "{name} merge=desksync" to .gitattributes and run git config merge.desksync.driver "desksync state merge %O %A %B" (see docs/team.md), then run "git checkout -m {path}" to merge it again with the driver`, fixLocal: true}
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		if len(t) == 0 {
			return nil, &CorruptError{Line: 1, Column: 1, Msg: "file is empty"}
		}
		line, col := position(data, len(data)-len(t))
		return nil, &CorruptError{Line: line, Column: col, Msg: "not a JSON object"}
	}
	var head struct {
		Version jsontext.Value `json:"version"`
	}
	if err := json.Unmarshal(data, &head, jsontext.AllowInvalidUTF8(true)); err != nil {
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
	var s State
	if err := json.Unmarshal(data, &s, json.RejectUnknownMembers(true), jsontext.AllowInvalidUTF8(true)); err != nil {
		return nil, jsonError(data, err)
	}
	s.Version = Version
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// conflictMarker returns the line of the first git conflict marker in data. A line of a
// JSON document cannot start with '<', '=' or '>' (a string cannot hold a raw newline),
// so such a line is never part of a state.
func conflictMarker(data []byte) (int, bool) {
	for line, rest := 1, data; len(rest) > 0; line++ {
		l, next, _ := bytes.Cut(rest, []byte{'\n'})
		for _, m := range []string{"<<<<<<<", "=======", ">>>>>>>", "|||||||"} {
			if bytes.HasPrefix(l, []byte(m)) {
				return line, true
			}
		}
		rest = next
	}
	return 0, false
}

// jsonError turns a decode error into a *CorruptError with line:column and the JSON path.
// Two of them get their own words: encoding/json would have let both through, keeping
// one of two values or matching a name in any case, and a state edited by hand (a merge
// conflict resolved by keeping both sides) is exactly where they occur.
func jsonError(data []byte, err error) error {
	ce := &CorruptError{Msg: strings.TrimPrefix(err.Error(), "json: "), Err: err}
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	var tpe *time.ParseError
	switch {
	case errors.As(err, &syn):
		ce.Line, ce.Column = position(data, int(syn.ByteOffset))
		ce.Field = fieldOf(syn.JSONPointer)
		name := string(syn.JSONPointer.LastToken())
		switch {
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			ce.Line, ce.Column = position(data, len(data))
			ce.Msg = "unexpected end of input (is the file truncated?)"
		case syn.Err == jsontext.ErrDuplicateName:
			ce.Msg = fmt.Sprintf("key %q appears twice in one object (a merge conflict resolved by keeping both sides?)", name)
		default:
			ce.Msg = syn.Err.Error()
		}
	case errors.As(err, &sem):
		ce.Line, ce.Column = position(data, int(sem.ByteOffset))
		ce.Field = fieldOf(sem.JSONPointer)
		name := string(sem.JSONPointer.LastToken())
		switch {
		case errors.As(err, &tpe):
			ce.Msg = fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-26T10:00:00Z", tpe.Value)
		case sem.Err == json.ErrUnknownName && spelling(sem.GoType, name) != "":
			ce.Msg = fmt.Sprintf("key %q must be spelled %q", name, spelling(sem.GoType, name))
		case sem.Err == json.ErrUnknownName:
			ce.Msg = fmt.Sprintf("unknown field %q", name)
		case sem.GoType != nil:
			ce.Msg = fmt.Sprintf("a JSON %s is not a valid %s", kindName(sem.JSONKind), sem.GoType)
		}
	}
	return ce
}

// spelling returns the JSON name of t's field that equals name but for case, or "".
func spelling(t reflect.Type, name string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if strings.EqualFold(tag, name) {
			return tag
		}
	}
	return ""
}

func kindName(k jsontext.Kind) string {
	switch name := k.String(); name {
	case "{":
		return "object"
	case "[":
		return "array"
	case "true", "false":
		return "boolean"
	default:
		return name
	}
}

// fieldOf spells a JSON pointer as CorruptError.Field does: attachments["a.png"].id,
// deposed[0].
func fieldOf(p jsontext.Pointer) string {
	toks := slices.Collect(p.Tokens())
	if len(toks) == 0 {
		return ""
	}
	f := toks[0]
	rest := toks[1:]
	if len(rest) > 0 {
		switch f {
		case "attachments", "pending":
			f += "[" + strconv.Quote(rest[0]) + "]"
			rest = rest[1:]
		case "deposed":
			f += "[" + rest[0] + "]"
			rest = rest[1:]
		}
	}
	for _, t := range rest {
		f += "." + t
	}
	return f
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
// will not write. It walks the maps unsorted and sorts only to name the first problem by
// address, for a stable message.
func (s *State) validate() error {
	if s.check(false) == nil {
		return nil
	}
	return s.check(true)
}

func (s *State) check(sorted bool) error {
	if err := s.checkHeader(); err != nil {
		return err
	}
	// One Desk file on two records would let a delete of one take the other's file.
	// The unsorted pass only tells whether some ID is claimed twice, from the IDs
	// sorted; the sorted pass, run only then, keeps the owners to name both records.
	var ids []int64
	var owner map[int64]recordRef
	if sorted {
		owner = make(map[int64]recordRef, len(s.Attachments)+len(s.Pending)+len(s.Deposed))
	} else {
		ids = make([]int64, 0, len(s.Attachments)+len(s.Pending)+len(s.Deposed))
	}
	claim := func(id int64, r recordRef) error {
		if !sorted {
			ids = append(ids, id)
			return nil
		}
		if prev, ok := owner[id]; ok {
			return corrupt(r.field()+".id", "Desk file %d is also recorded as %s; one Desk file belongs to one record", id, prev.field())
		}
		owner[id] = r
		return nil
	}
	err := eachEntry(s.Attachments, sorted, func(addr string, a *Attachment) error {
		if err := checkAttachment(addr, a); err != nil {
			return err
		}
		return claim(a.ID, recordRef{section: "attachments", addr: addr})
	})
	if err != nil {
		return err
	}
	err = eachEntry(s.Pending, sorted, func(addr string, p *Pending) error {
		if err := checkPending(addr, p); err != nil {
			return err
		}
		return claim(p.ID, recordRef{section: "pending", addr: addr})
	})
	if err != nil {
		return err
	}
	for i, d := range s.Deposed {
		if err := checkDeposed(i, d); err != nil {
			return err
		}
		if err := claim(d.ID, recordRef{section: "deposed", index: i}); err != nil {
			return err
		}
	}
	if hasDuplicate(ids) {
		return errDuplicateID
	}
	return nil
}

// errDuplicateID is the unsorted pass's finding, which the sorted pass spells out.
var errDuplicateID = errors.New("a Desk file is recorded twice")

// hasDuplicate reports whether an ID appears twice in ids, which it sorts.
func hasDuplicate(ids []int64) bool {
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return true
		}
	}
	return false
}

func corrupt(field, format string, args ...any) error {
	return &CorruptError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// checkHeader checks the state's own fields, those outside its records.
func (s *State) checkHeader() error {
	switch {
	case s.Version != Version:
		return corrupt("version", "%d is not a state format version this desksync writes", s.Version)
	case s.Lineage == "":
		return corrupt("lineage", "missing")
	case s.Serial < 0:
		return corrupt("serial", "%d is negative", s.Serial)
	case s.Serial > MaxSerial:
		return &CorruptError{Field: "serial", Msg: fmt.Sprintf("%d is above %d (2^53), the largest serial desksync reads", s.Serial, int64(MaxSerial)), fix: serialFix}
	case s.Attachments == nil:
		return corrupt("attachments", "missing")
	}
	return nil
}

// checkAttachment, checkPending and checkDeposed check one record on its own; its Desk
// ID is checked against the others' by check.
func checkAttachment(addr string, a *Attachment) error {
	if a == nil {
		return checkRecord("attachments", addr, nil)
	}
	return checkRecord("attachments", addr, &recordFields{a.ID, a.Blake3, a.Size, a.UploadedAt, "uploadedAt"})
}

func checkPending(addr string, p *Pending) error {
	if p == nil {
		return checkRecord("pending", addr, nil)
	}
	return checkRecord("pending", addr, &recordFields{p.ID, p.Blake3, p.Size, p.StartedAt, "startedAt"})
}

// recordFields are what an attachment and a pending record share.
type recordFields struct {
	id     int64
	blake3 string
	size   int64
	at     time.Time
	atName string // the JSON name of at
}

// checkRecord checks the record at addr in section; r is nil for a null record.
func checkRecord(section, addr string, r *recordFields) error {
	f := func() string { return section + "[" + strconv.Quote(addr) + "]" }
	switch {
	case addr == "":
		return corrupt(f(), "empty address")
	case r == nil:
		return corrupt(f(), "null")
	case r.id <= 0:
		return corrupt(f()+".id", "%d is not a Desk file id", r.id)
	case !isBlake3(r.blake3):
		return corrupt(f()+".blake3", "%q is not 64 lowercase hex digits", r.blake3)
	case r.size < 0:
		return corrupt(f()+".size", "%d is negative", r.size)
	case !timeOK(r.at):
		return timeError(f()+"."+r.atName, r.at)
	}
	return nil
}

func checkDeposed(i int, d Deposed) error {
	f := func() string { return fmt.Sprintf("deposed[%d]", i) }
	switch {
	case d.Address == "":
		return corrupt(f()+".address", "empty address")
	case d.ID <= 0:
		return corrupt(f()+".id", "%d is not a Desk file id", d.ID)
	case d.Size < 0:
		return corrupt(f()+".size", "%d is negative", d.Size)
	case !timeOK(d.Since):
		return timeError(f()+".since", d.Since)
	}
	return nil
}

// recordRef names one record of a state: an address in attachments or pending, or an
// index in deposed.
type recordRef struct {
	section string
	addr    string
	index   int
}

// field is the record's name in messages, e.g. attachments["a.png"] or deposed[2].
func (r recordRef) field() string {
	if r.section == "deposed" {
		return fmt.Sprintf("deposed[%d]", r.index)
	}
	return r.section + "[" + strconv.Quote(r.addr) + "]"
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
	// One table lookup per byte and no branch: a branch on whether a random hex
	// digit is a letter is mispredicted for a third of them.
	var bad byte
	for i := range len(s) {
		bad |= notLowerHex[s[i]]
	}
	return bad == 0
}

// notLowerHex is 1 for every byte but the digits and a to f.
var notLowerHex = func() (t [256]byte) {
	for c := range t {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			t[c] = 1
		}
	}
	return t
}()

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
// in UTC and invalid UTF-8 as U+FFFD. The types declare their fields in the order of their
// JSON names, which is the order the encoder writes them in. Encode refuses a state that
// Decode would refuse.
func (s *State) Encode() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("refusing to encode an invalid state: %w", err)
	}
	b, err := json.Marshal(s, json.Deterministic(true), jsontext.WithIndent("  "), jsontext.AllowInvalidUTF8(true),
		json.WithMarshalers(json.MarshalToFunc(func(enc *jsontext.Encoder, t time.Time) error {
			return enc.WriteToken(jsontext.String(t.UTC().Format(time.RFC3339Nano)))
		})))
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
