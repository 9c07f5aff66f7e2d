package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// checkKeys refuses two things encoding/json lets through silently: a key spelled in
// another case than the format's ("ID" for "id": encoding/json matches names without
// regard to case), and a key that appears twice in one object (encoding/json keeps the
// last). The state file lives in git, and a merge conflict resolved by hand can leave
// both sides' "serial", or the same address twice under "attachments": Decode must
// refuse that, not quietly keep one.
//
// Only the structure is checked here; values, and keys no spelling of which is known,
// are Decode's business.
func checkKeys(data []byte) error {
	w := keyWalker{data: data}
	if err := w.value(stateShape); !errors.Is(err, errMalformed) {
		return err
	}
	return nil
}

// shape is what the format expects at one place in the document: an object with the
// fields of a struct, an object whose keys are free (addresses) with values of one
// shape, or an array of one shape. A nil *shape is any value.
type shape struct {
	fields map[string]*shape // exact JSON names
	mapOf  *shape
	listOf *shape
}

// stateShape is derived from the types' JSON tags, so that it cannot drift from them.
var stateShape = &shape{fields: map[string]*shape{}}

func init() {
	for name := range fieldsOf(State{}).fields {
		stateShape.fields[name] = nil
	}
	stateShape.fields["attachments"] = &shape{mapOf: fieldsOf(Attachment{})}
	stateShape.fields["pending"] = &shape{mapOf: fieldsOf(Pending{})}
	stateShape.fields["deposed"] = &shape{listOf: fieldsOf(Deposed{})}
}

func fieldsOf(v any) *shape {
	s := &shape{fields: map[string]*shape{}}
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		s.fields[name] = nil
	}
	return s
}

// keyWalker scans the document byte by byte: encoding/json's Decoder.Token cost
// 96 ms on a 10,000-entry state, more than decoding it. It is lenient: on anything
// that is not well-formed JSON it stops and leaves the report to the decoder.
type keyWalker struct {
	data []byte
	i    int
	// path is where the walk is, built into a field name only for an error.
	path []step
}

// step is one level of the path: a key (of a map of addresses when quoted) or an
// array index.
type step struct {
	key     string
	quoted  bool
	index   int
	isIndex bool
}

// field spells the path as CorruptError.Field does: attachments["a.png"].id, deposed[0].
func (w *keyWalker) field() string {
	var b strings.Builder
	for i, st := range w.path {
		switch {
		case st.quoted:
			b.WriteString("[" + strconv.Quote(st.key) + "]")
		case st.isIndex:
			fmt.Fprintf(&b, "[%d]", st.index)
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(st.key)
		}
	}
	return b.String()
}

// errMalformed stops the walk; Decode's own decoder then says what is wrong, and where.
var errMalformed = errors.New("malformed JSON")

func (w *keyWalker) space() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\r', '\n':
			w.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, or 0 at the end.
func (w *keyWalker) peek() byte {
	w.space()
	if w.i >= len(w.data) {
		return 0
	}
	return w.data[w.i]
}

// str reads a string and returns its value.
func (w *keyWalker) str() (string, error) {
	if w.peek() != '"' {
		return "", errMalformed
	}
	start, escaped := w.i, false
	for w.i++; w.i < len(w.data); w.i++ {
		j := bytes.IndexAny(w.data[w.i:], `"\`)
		if j < 0 {
			break
		}
		w.i += j
		switch w.data[w.i] {
		case '\\':
			escaped = true
			w.i++
		case '"':
			w.i++
			raw := w.data[start:w.i]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return "", errMalformed
			}
			return v, nil
		}
	}
	return "", errMalformed
}

// maxDepth bounds the nesting the walk follows (the format needs four levels), so
// that a hostile file of nested brackets cannot exhaust the stack; deeper input is
// left to the decoder, which refuses it.
const maxDepth = 64

// value reads one value at w.path, expecting sh.
func (w *keyWalker) value(sh *shape) error {
	if len(w.path) > maxDepth {
		return errMalformed
	}
	switch w.peek() {
	case '"':
		_, err := w.str()
		return err
	case '[':
		w.i++
		var elem *shape
		if sh != nil {
			elem = sh.listOf
		}
		for n := 0; ; n++ {
			if w.peek() == ']' && n == 0 {
				w.i++
				return nil
			}
			w.path = append(w.path, step{index: n, isIndex: true})
			if err := w.value(elem); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
			if more, err := w.more(']'); !more {
				return err
			}
		}
	case '{':
		w.i++
		var seen keySet
		for n := 0; ; n++ {
			if w.peek() == '}' && n == 0 {
				w.i++
				return nil
			}
			keyAt := w.i
			key, err := w.str()
			if err != nil {
				return err
			}
			var next *shape
			w.path = append(w.path, step{key: key, quoted: sh != nil && sh.mapOf != nil})
			switch {
			case sh == nil:
			case sh.mapOf != nil:
				next = sh.mapOf
			case sh.fields != nil:
				want, known := exactOrFolded(sh.fields, key)
				if known && want != key {
					return w.errorAt(keyAt, fmt.Sprintf("key %q must be spelled %q", key, want))
				}
				next = sh.fields[key]
			}
			if !seen.add(key) {
				return w.errorAt(keyAt, fmt.Sprintf("key %q appears twice in one object (a merge conflict resolved by keeping both sides?)", key))
			}
			if w.peek() != ':' {
				return errMalformed
			}
			w.i++
			if err := w.value(next); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
			if more, err := w.more('}'); !more {
				return err
			}
		}
	default:
		// A number or a literal: skip to the next delimiter.
		start := w.i
	scan:
		for ; w.i < len(w.data); w.i++ {
			switch w.data[w.i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				break scan
			}
		}
		if w.i == start {
			return errMalformed
		}
		return nil
	}
}

// more reads what follows a member of an array or object: a comma (more is true) or
// the closing delimiter.
func (w *keyWalker) more(closing byte) (more bool, err error) {
	switch w.peek() {
	case ',':
		w.i++
		return true, nil
	case closing:
		w.i++
		return false, nil
	}
	return false, errMalformed
}

// keySet holds the keys of one object: a short list while it is short, as most are
// (an entry has at most nine), a map once it is long (attachments).
type keySet struct {
	list []string
	m    map[string]bool
}

// add adds key and reports whether it was new.
func (k *keySet) add(key string) bool {
	if k.m == nil {
		if slices.Contains(k.list, key) {
			return false
		}
		if len(k.list) < 16 {
			k.list = append(k.list, key)
			return true
		}
		k.m = make(map[string]bool, 2*len(k.list))
		for _, s := range k.list {
			k.m[s] = true
		}
	}
	if k.m[key] {
		return false
	}
	k.m[key] = true
	return true
}

// exactOrFolded finds key among fields, exactly or, failing that, without regard to
// case; known is false when no spelling of it is a field.
func exactOrFolded(fields map[string]*shape, key string) (name string, known bool) {
	if _, ok := fields[key]; ok {
		return key, true
	}
	for f := range fields {
		if strings.EqualFold(f, key) {
			return f, true
		}
	}
	return "", false
}

// errorAt is a *CorruptError at the key that starts at byte offset at.
func (w *keyWalker) errorAt(at int, msg string) error {
	line, col := position(w.data, at)
	return &CorruptError{Line: line, Column: col, Field: w.field(), Msg: msg}
}
