package view

import (
	"strconv"
	"unicode/utf8"

	"github.com/desksync/desksync/plan"
)

// The JSON plan's changes are written by hand, not through encoding/json with an
// indent: its Indent is a second pass over every encoded change. The bytes are those
// encoding/json writes for plan.Change with SetEscapeHTML(false) and
// SetIndent("    ", "  "), which TestChangeJSONMatchesEncodingJSON holds them to.

// appendChange appends c as the plan document's changes array holds it (its first
// line unindented, no trailing newline).
func appendChange(dst []byte, c plan.Change) ([]byte, error) {
	action, err := c.Action.MarshalText()
	if err != nil {
		return dst, err
	}
	const in = "\n      " // the prefix and two indents: a change's members
	dst = append(dst, '{')
	dst = appendMember(dst, in, "address")
	dst = appendString(dst, c.Address)
	if c.PreviousAddress != "" {
		dst = append(dst, ',')
		dst = appendMember(dst, in, "previous_address")
		dst = appendString(dst, c.PreviousAddress)
	}
	dst = append(dst, ',')
	dst = appendMember(dst, in, "action")
	dst = appendString(dst, string(action))
	dst = append(dst, ',')
	dst = appendMember(dst, in, "before")
	dst = appendAttrs(dst, c.Before)
	dst = append(dst, ',')
	dst = appendMember(dst, in, "after")
	dst = appendAttrs(dst, c.After)
	dst = append(dst, ',')
	dst = appendMember(dst, in, "reasons")
	switch {
	case c.Reasons == nil:
		dst = append(dst, "null"...)
	case len(c.Reasons) == 0:
		dst = append(dst, "[]"...)
	default:
		dst = append(dst, '[')
		for i, r := range c.Reasons {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, in+"  "...)
			dst = appendString(dst, r)
		}
		dst = append(dst, in+"]"...)
	}
	if c.Diff != "" {
		dst = append(dst, ',')
		dst = appendMember(dst, in, "diff")
		dst = appendString(dst, c.Diff)
	}
	return append(dst, "\n    }"...), nil
}

// appendAttrs appends a change's before or after, its members one level deeper.
func appendAttrs(dst []byte, a *plan.Attrs) []byte {
	if a == nil {
		return append(dst, "null"...)
	}
	const in = "\n        "
	dst = append(dst, '{')
	if a.ID != 0 {
		dst = appendMember(dst, in, "id")
		dst = strconv.AppendInt(dst, a.ID, 10)
		dst = append(dst, ',')
	}
	for i, f := range [...]struct{ name, value string }{
		{"filename", a.Filename}, {"mimeType", a.MimeType}, {"disposition", a.Disposition}, {"type", a.Type},
	} {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendMember(dst, in, f.name)
		dst = appendString(dst, f.value)
	}
	dst = append(dst, ',')
	dst = appendMember(dst, in, "size")
	dst = strconv.AppendInt(dst, a.Size, 10)
	dst = append(dst, ',')
	dst = appendMember(dst, in, "blake3")
	dst = appendString(dst, a.Blake3)
	return append(dst, "\n      }"...)
}

// appendMember appends a member's name (a plain ASCII word) on a new line indented
// by indent.
func appendMember(dst []byte, indent, name string) []byte {
	dst = append(dst, indent...)
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, `": `...)
}

// appendString appends s as encoding/json quotes it without HTML escaping: invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped, control characters as \b, \f, \n, \r,
// \t or \u00XX.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
