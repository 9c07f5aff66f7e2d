package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEncodeMatchesReflection compares Encode, which writes each field by hand, with
// refEncode, which finds the fields by reflection from their json tags as encoding/json
// does. States are filled at random through reflection too, every exported field set, so
// a field added to State, Attachment, Pending or Deposed but not to Encode makes them
// differ.
func TestEncodeMatchesReflection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		s := randomState(rng, i%4 == 0)
		got, err := s.Encode()
		if err != nil {
			t.Fatalf("state %d: Encode: %v", i, err)
		}
		want, err := refEncode(s)
		if err != nil {
			t.Fatalf("state %d: refEncode: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("state %d: Encode differs from the reflection encoder\n got: %q\nwant: %q", i, got, want)
		}
	}
}

// pieces are the string fragments random states are made of: plain ASCII, every kind of
// escape, multi-byte UTF-8, U+2028, a literal U+FFFD and invalid UTF-8 (lone bytes, a
// truncated sequence, an encoded surrogate).
var pieces = []string{
	"a", "images/logo.png", " ", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f",
	"é", "ü/new", "日本", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xe9", "\xc3", "\xed\xa0\x80", "<&>", "/",
}

func randomString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(6) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

func randomTime(rng *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("X", 14*3600), time.FixedZone("Y", -12*3600-30*60)}
	nanos := []int{0, 5, 120_000_000, 999_999_999, rng.IntN(1_000_000_000)}
	t := time.Date(1+rng.IntN(9997), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60),
		nanos[rng.IntN(len(nanos))], time.UTC)
	return t.In(zones[rng.IntN(len(zones))])
}

// fill sets every exported field of the struct v points to at random.
func fill(rng *rand.Rand, v reflect.Value) {
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(randomTime(rng)))
		case f.Kind() == reflect.String:
			f.SetString(randomString(rng))
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(rng.Int64N(1 << 62))
		case f.Kind() == reflect.Bool:
			f.SetBool(rng.IntN(2) == 1)
		}
	}
}

func randomHash(rng *rand.Rand) string {
	return fmt.Sprintf("%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
}

func randomState(rng *rand.Rand, empty bool) *State {
	s := &State{}
	fill(rng, reflect.ValueOf(s))
	s.Version, s.Serial = Version, rng.Int64N(1<<40)
	if s.Lineage == "" {
		s.Lineage = "l"
	}
	s.Attachments, s.Pending = map[string]*Attachment{}, map[string]*Pending{}
	if empty {
		if rng.IntN(2) == 0 {
			s.Pending = nil // nil or empty: omitted alike
		}
		return s
	}
	for range rng.IntN(20) {
		a := &Attachment{}
		fill(rng, reflect.ValueOf(a))
		a.ID, a.Blake3 = 1+rng.Int64N(1<<62), randomHash(rng)
		s.Attachments[randomString(rng)+strconv.Itoa(rng.IntN(100))] = a
	}
	for range rng.IntN(4) {
		p := &Pending{}
		fill(rng, reflect.ValueOf(p))
		p.ID, p.Blake3 = 1+rng.Int64N(1<<62), randomHash(rng)
		s.Pending[randomString(rng)+"p"] = p
	}
	for range rng.IntN(4) {
		var d Deposed
		fill(rng, reflect.ValueOf(&d))
		d.ID, d.Address = 1+rng.Int64N(1<<62), "d"+d.Address
		s.Deposed = append(s.Deposed, d)
	}
	return s
}

// BenchmarkEncode1k measures Encode of a state of 1,000 attachments, the size of the scale tests'
// benchmark apply; apply encodes it for every save.
func BenchmarkEncode1k(b *testing.B) {
	s := New("https://example.teamwork.com")
	for i := range 1000 {
		s.Activate(fmt.Sprintf("files/f%05d.bin", i), Attachment{ID: int64(100000 + i),
			Filename: fmt.Sprintf("f%05d.bin", i), MimeType: "application/octet-stream", Disposition: "attachment",
			Type: "attachment", Size: 4096, Blake3: testHash, State: "active", UploadedAt: time.Now()})
	}
	data, err := s.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := s.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// refEncode is the reference for Encode: Python's json.dumps layout driven by reflection
// over the json tags (names, omitempty), as encoding/json reads them. It was Encode until
// that was written out by hand for speed.
func refEncode(s *State) ([]byte, error) {
	var b bytes.Buffer
	e := refEncoder{b: &b}
	if err := e.value(reflect.ValueOf(s).Elem(), 0); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

type refEncoder struct{ b *bytes.Buffer }

func (e *refEncoder) newline(depth int) {
	e.b.WriteByte('\n')
	e.b.WriteString(strings.Repeat("  ", depth))
}

func (e *refEncoder) str(s string) { e.b.Write(appendRefString(nil, s)) }

func (e *refEncoder) value(v reflect.Value, depth int) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.b.WriteString("null")
			return nil
		}
		return e.value(v.Elem(), depth)
	case reflect.String:
		e.str(v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Bool:
		e.b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			e.str(v.Interface().(time.Time).UTC().Format(time.RFC3339Nano))
			return nil
		}
		return e.object(v, depth)
	case reflect.Map:
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
			e.newline(depth + 1)
			e.str(k.String())
			e.b.WriteString(": ")
			if err := e.value(v.MapIndex(k), depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	case reflect.Slice:
		if v.Len() == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				e.b.WriteByte(',')
			}
			e.newline(depth + 1)
			if err := e.value(v.Index(i), depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	default:
		return fmt.Errorf("cannot encode %s", v.Type())
	}
	return nil
}

func (e *refEncoder) object(v reflect.Value, depth int) error {
	type field struct {
		name      string
		index     int
		omitEmpty bool
	}
	var fields []field
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, field{name, i, slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	n := 0
	for _, f := range fields {
		fv := v.Field(f.index)
		if f.omitEmpty && (fv.IsZero() || (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice || fv.Kind() == reflect.String) && fv.Len() == 0) {
			continue
		}
		if n == 0 {
			e.b.WriteByte('{')
		} else {
			e.b.WriteByte(',')
		}
		n++
		e.newline(depth + 1)
		e.str(f.name)
		e.b.WriteString(": ")
		if err := e.value(fv, depth+1); err != nil {
			return err
		}
	}
	if n == 0 {
		e.b.WriteString("{}")
		return nil
	}
	e.newline(depth)
	e.b.WriteByte('}')
	return nil
}

// appendRefString is the rune-at-a-time quoting Encode used before its fast path for
// runs of plain bytes.
func appendRefString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s { // a range over a string yields U+FFFD for each invalid byte
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r < 0x20:
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}

// TestClone checks that Clone copies everything, keeps nil maps and nil entries as they
// are, and shares nothing with the original: changing every entry of the original
// afterwards leaves the clone's encoding as it was.
func TestClone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100 {
		s := randomState(rng, i%4 == 0)
		if i%5 == 0 {
			s.Pending = nil
		}
		c := s.Clone()
		if !reflect.DeepEqual(c, s) {
			t.Fatalf("state %d: clone differs\n got: %+v\nwant: %+v", i, c, s)
		}
		before, err := refEncode(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range s.Attachments {
			a.Filename += "x"
		}
		for _, p := range s.Pending {
			p.ID++
		}
		for j := range s.Deposed {
			s.Deposed[j].ID++
		}
		s.Attachments["new"] = &Attachment{}
		after, err := refEncode(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatalf("state %d: changing the original changed the clone", i)
		}
	}
	withNil := &State{Attachments: map[string]*Attachment{"a": nil, "b": {ID: 2}}, Pending: map[string]*Pending{"p": nil}}
	c := withNil.Clone()
	if a, ok := c.Attachments["a"]; !ok || a != nil || c.Attachments["b"].ID != 2 || c.Attachments["b"] == withNil.Attachments["b"] {
		t.Errorf("nil entries not kept or entries shared: %+v", c.Attachments)
	}
	if p, ok := c.Pending["p"]; !ok || p != nil {
		t.Errorf("nil pending entry not kept: %+v", c.Pending)
	}
}

// BenchmarkClone1k measures Clone of a state of 1,000 attachments; apply's group commit
// takes one for every save, under its mutex.
func BenchmarkClone1k(b *testing.B) {
	s := New("https://example.teamwork.com")
	for i := range 1000 {
		s.Activate(fmt.Sprintf("files/f%05d.bin", i), Attachment{ID: int64(100000 + i), Blake3: testHash, UploadedAt: time.Now()})
	}
	for b.Loop() {
		_ = s.Clone()
	}
}

// BenchmarkDecode50k reads a state of 50,000 records, as a daily plan of a large tree
// does: "plain" is the layout desksync writes, "library" the same state with one
// escaped character, which the plain reader leaves to the JSON library.
func BenchmarkDecode50k(b *testing.B) {
	s := New("https://example.teamwork.com")
	for i := range 50000 {
		s.Activate(fmt.Sprintf("files/d%02d/f%05d.bin", i/500, i), Attachment{ID: int64(1 + i),
			Filename: fmt.Sprintf("f%05d.bin", i), MimeType: "application/octet-stream", Disposition: "attachment",
			Type: "attachment", Size: 100, Blake3: testHash, State: "active", UploadedAt: time.Now().UTC()})
	}
	data, err := s.Encode()
	if err != nil {
		b.Fatal(err)
	}
	escaped := bytes.Replace(data, []byte(`"f00000.bin"`), []byte(`"f\u00300000.bin"`), 1)
	for name, data := range map[string][]byte{"plain": data, "library": escaped} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
