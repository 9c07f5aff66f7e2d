package quote

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// IsControl reports whether r is a control character: C0 (U+0000 to U+001F), DEL or C1
// (U+0080 to U+009F). These are the characters a name desksync accepts may never hold; the
// wider set that is only escaped when printed is [Unsafe].
func IsControl(r rune) bool {
	return unicode.IsControl(r)
}

// HasControl reports whether s holds a control character (see [IsControl]).
func HasControl(s string) bool {
	return strings.ContainsFunc(s, IsControl)
}

// Unsafe reports whether r must not reach a terminal or a log as it is: everything
// unicode.IsPrint refuses other than the ASCII space. That is every control character
// (tab included: it would split a column of "state list"), the format characters (bidi
// overrides and isolates, zero-width spaces and joiners, the BOM), the line and paragraph
// separators, spaces other than U+0020, unassigned code points, surrogate halves and the
// replacement character invalid UTF-8 decodes to.
func Unsafe(r rune) bool {
	return r == utf8.RuneError || (r != ' ' && !unicode.IsPrint(r))
}

// Text returns s ready to print inside a line: s itself when it is plain, otherwise s as a
// double-quoted Go string literal, in which every [Unsafe] character is a visible escape
// such as \n, \x1b or \u202e and "##" is written #\x23. A string is plain when every
// character is printable, it is valid UTF-8, it neither starts nor ends with a space, it
// does not start with "::", and it holds no "##". The empty string prints as "".
func Text(s string) string {
	if plain(s) {
		return s
	}
	return strings.ReplaceAll(strconv.Quote(s), "##", `#\x23`)
}

// TextList is [Text] of each of ss.
func TextList(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Text(s)
	}
	return out
}

func plain(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.HasPrefix(s, "::") {
		return false
	}
	if printableRun(s) == len(s) {
		return true // printable ASCII without '#': nothing below can refuse it
	}
	return !strings.Contains(s, "##") && utf8.ValidString(s) && !strings.ContainsFunc(s, Unsafe)
}

// printableRun returns the length of the run of printable ASCII other than '#' (0x20 to
// 0x7e) that b starts with, testing eight bytes at a time: most of what desksync
// prints is such a run, and the rune-by-rune checks are for the rest.
func printableRun[T string | []byte](b T) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		hash, del := w^('#'*ones), w^(0x7f*ones)
		// A byte's high bit is set where it is zero after an xor above, below 0x20, or
		// 0x80 and up. A borrow can set more bits, but only above the first byte found.
		found := ((hash-ones)&^hash | (del-ones)&^del | (w-0x20*ones)&^w | w) & highs
		if found != 0 {
			return i + bits.TrailingZeros64(found)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x7f || c == '#' {
			break
		}
	}
	return i
}

// Line returns the single line s with every [Unsafe] character replaced by its escape (as
// [Text] writes it, without the surrounding quotes), "##" written #\x23, and a "::" that the
// line starts with (after any spaces) written \x3a:, so that a CI runner reads no command
// in it. A line made only of printable text comes back unchanged. It is the guard for a
// line composed of several parts, some of which may not have gone through [Text].
func Line(s string) string {
	if (printableRun(s) == len(s) || !strings.ContainsFunc(s, Unsafe) && utf8.ValidString(s) && !strings.Contains(s, "##")) &&
		!strings.HasPrefix(strings.TrimLeft(s, " "), "::") {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		if Unsafe(r) {
			q := strconv.Quote(s[i : i+size])
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteString(s[i : i+size])
	}
	out := strings.ReplaceAll(b.String(), "##", `#\x23`)
	if t := strings.TrimLeft(out, " "); strings.HasPrefix(t, "::") {
		out = out[:len(out)-len(t)] + `\x3a` + t[1:]
	}
	return out
}

// Lines is [Line] of each line of s, the lines split at "\n" and joined again by it: for a
// message of several lines, such as an error listing every failed change.
func Lines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Line(l)
	}
	return strings.Join(lines, "\n")
}

// Shell returns s as one word of a POSIX shell command: s itself when it holds only
// characters no shell treats specially (letters, digits and -_.,:/@%+=), otherwise s in
// single quotes (a ' in s closes them, is escaped and reopens them). A lock ID or an address pasted into a suggested
// command therefore stays one argument and runs nothing. A word with an [Unsafe] character
// (or a "##", which a CI runner reads as a command) is written in bash's $'…' form with
// the character escaped, so that it cannot break or forge the line the command is printed on.
func Shell(s string) string {
	if s == "" {
		return "''"
	}
	if !strings.HasPrefix(s, "::") && !strings.ContainsFunc(s, func(r rune) bool { return !shellSafe(r) }) {
		return s
	}
	if strings.ContainsFunc(s, Unsafe) || !utf8.ValidString(s) || strings.Contains(s, "##") {
		q := strconv.Quote(s)
		q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
		q = strings.ReplaceAll(q, "##", `#\x23`)
		q = strings.ReplaceAll(q, "'", `\'`)
		return "$'" + q + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellSafe(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("-_.,:/@%+=", r))
}

// Code returns s as a markdown inline code span, the form in which GitHub renders no
// mention, link, issue reference, emoji or HTML: s goes through [Text] first, the fence is
// one backtick longer than the longest run of backticks in s, and a space pads a span that
// starts or ends with one. In a table cell (inTable) each '|' is written \|, which GFM
// unescapes before it reads the span.
func Code(s string, inTable bool) string {
	s = Text(s)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	return fence + s + fence
}

// HTMLCode returns s for raw HTML inside markdown (a <summary>): HTML-escaped inside a
// <code> element, where GitHub links no mention or reference either.
func HTMLCode(s string) string {
	var b strings.Builder
	b.WriteString("<code>")
	for _, r := range Text(s) {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		case '`':
			b.WriteString("&#96;")
		case '@':
			b.WriteString("&#64;")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString("</code>")
	return b.String()
}

// Fence returns a markdown code fence of backticks that s cannot close: at least three,
// and longer than any run of backticks in s.
func Fence(s string) string {
	return strings.Repeat("`", max(3, longestRun(s, '`')+1))
}

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// JSON returns the encoded JSON document b with every [Unsafe] character inside its strings
// written as a \u escape and "##" as #\u0023, so that a terminal or a CI log shows the
// document inert while any JSON reader decodes the same values. b must be valid JSON as an
// encoder writes it: outside strings it holds only ASCII, and the whitespace between
// tokens (newlines, tabs, spaces) is kept.
func JSON(b []byte) []byte { return AppendJSON(nil, b) }

// AppendJSON appends JSON(b) to dst and returns the extended buffer.
func AppendJSON(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		// Most of a document is printable ASCII, copied a run at a time.
		j := i + printableRun(b[i:])
		dst = append(dst, b[i:j]...)
		if i = j; i == len(b) {
			break
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			dst = append(dst, b[i])
		case Unsafe(r):
			for _, u := range utf16.Encode([]rune{r}) {
				dst = fmt.Appendf(dst, `\u%04x`, u)
			}
		case r == '#' && i+1 < len(b) && b[i+1] == '#':
			dst = append(dst, `#\u0023`...)
			size = 2
		default:
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}
