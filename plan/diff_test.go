package plan

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	t.Parallel()
	ten := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	tests := []struct {
		name          string
		before, after string
		context       int
		want          string
	}{
		{name: "equal", before: ten, after: ten, context: 3, want: ""},
		{name: "both empty", before: "", after: "", context: 3, want: ""},
		{
			name: "one line changed in the middle", before: ten, after: strings.Replace(ten, "5\n", "five\n", 1), context: 3,
			want: "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
		},
		{
			name: "line added at the end", before: "a\nb\n", after: "a\nb\nc\n", context: 3,
			want: "--- a\n+++ b\n@@ -1,2 +1,3 @@\n a\n b\n+c\n",
		},
		{
			name: "from empty", before: "", after: "x\ny\n", context: 3,
			want: "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n",
		},
		{
			name: "to empty", before: "x\n", after: "", context: 3,
			want: "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n",
		},
		{
			name: "newline added at end of file", before: "a\nb", after: "a\nb\n", context: 3,
			want: "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
		},
		{
			name: "two changes far apart make two hunks", before: ten, after: strings.Replace(strings.Replace(ten, "1\n", "one\n", 1), "10\n", "ten\n", 1), context: 1,
			want: "--- a\n+++ b\n@@ -1,2 +1,2 @@\n-1\n+one\n 2\n@@ -9,2 +9,2 @@\n 9\n-10\n+ten\n",
		},
		{
			name: "two changes with touching context make one hunk", before: ten, after: strings.Replace(strings.Replace(ten, "2\n", "two\n", 1), "5\n", "five\n", 1), context: 1,
			want: "--- a\n+++ b\n@@ -1,6 +1,6 @@\n 1\n-2\n+two\n 3\n 4\n-5\n+five\n 6\n",
		},
		{
			name: "no context", before: ten, after: strings.Replace(ten, "4\n", "", 1), context: 0,
			want: "--- a\n+++ b\n@@ -4 +3,0 @@\n-4\n",
		},
		{
			name: "insertion with no context", before: "a\nb\n", after: "a\nnew\nb\n", context: 0,
			want: "--- a\n+++ b\n@@ -1,0 +2 @@\n+new\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := UnifiedDiff("a", "b", []byte(tt.before), []byte(tt.after), tt.context)
			if got != tt.want {
				t.Errorf("UnifiedDiff:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestUnifiedDiffApplies checks, over random edits, that every diff turns its before
// into its after when applied, and that every hunk header counts its lines right.
func TestUnifiedDiffApplies(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a\n", "b\n", "c\n", "d\n", "<svg>\n", "# title\n", "x"}
	gen := func(n int) string {
		var b strings.Builder
		for range n {
			w := words[rng.IntN(len(words))]
			if w == "x" {
				w = strconv.Itoa(rng.IntN(5)) + "\n"
			}
			b.WriteString(w)
		}
		s := b.String()
		if rng.IntN(4) == 0 && s != "" {
			s = strings.TrimSuffix(s, "\n") // no newline at end of file
		}
		return s
	}
	for i := range 500 {
		before, after := gen(rng.IntN(30)), gen(rng.IntN(30))
		ctx := rng.IntN(4)
		d := UnifiedDiff("a", "b", []byte(before), []byte(after), ctx)
		got, err := applyDiff(before, d)
		if err != nil {
			t.Fatalf("case %d (context %d): %v\nbefore %q\nafter %q\ndiff:\n%s", i, ctx, err, before, after, d)
		}
		if got != after {
			t.Fatalf("case %d (context %d): applying the diff gave %q, want %q\ndiff:\n%s", i, ctx, got, after, d)
		}
	}
}

// applyDiff applies a unified diff made by UnifiedDiff to before, checking each hunk's
// position, counts and context lines.
func applyDiff(before, diff string) (string, error) {
	if diff == "" {
		return before, nil
	}
	src := splitLines(before)
	var out []string
	next := 0 // index into src of the first line not yet copied
	sc := bufio.NewScanner(strings.NewReader(diff))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 || lines[0] != "--- a" || lines[1] != "+++ b" {
		return "", fmt.Errorf("bad header %q", lines[:min(2, len(lines))])
	}
	i := 2
	for i < len(lines) {
		var aStart, aCount, bStart, bCount int
		if _, err := fmt.Sscanf(normalizeHeader(lines[i]), "@@ -%d,%d +%d,%d @@", &aStart, &aCount, &bStart, &bCount); err != nil {
			return "", fmt.Errorf("bad hunk header %q: %v", lines[i], err)
		}
		i++
		first := aStart - 1
		if aCount == 0 {
			first = aStart
		}
		if first < next {
			return "", fmt.Errorf("hunk %q overlaps the previous one", lines[i-1])
		}
		out = append(out, src[next:first]...)
		pos := first
		var gotA, gotB int
		for i < len(lines) && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i][1:] + "\n"
			if i+1 < len(lines) && lines[i+1] == `\ No newline at end of file` {
				l = lines[i][1:]
			}
			switch lines[i][0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != l {
					return "", fmt.Errorf("line %d: %q does not match %q", pos+1, lines[i], src[min(pos, len(src)-1)])
				}
				if lines[i][0] == ' ' {
					out = append(out, l)
					gotB++
				}
				pos++
				gotA++
			case '+':
				out = append(out, l)
				gotB++
			case '\\':
			default:
				return "", fmt.Errorf("bad line %q", lines[i])
			}
			i++
		}
		if gotA != aCount || gotB != bCount {
			return "", fmt.Errorf("hunk counts -%d +%d, header says -%d +%d", gotA, gotB, aCount, bCount)
		}
		next = pos
	}
	out = append(out, src[next:]...)
	return strings.Join(out, ""), nil
}

// normalizeHeader writes the one-line forms "-N" as "-N,1" so one Sscanf reads all.
func normalizeHeader(h string) string {
	f := strings.Fields(h)
	if len(f) != 4 {
		return h
	}
	for _, k := range []int{1, 2} {
		if !strings.Contains(f[k], ",") {
			f[k] += ",1"
		}
	}
	return strings.Join(f, " ")
}

func TestContentDiff(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("line\n", MaxDiffSize/5+1)
	tests := []struct {
		name          string
		before, after string
		wantDiff      string
		wantNote      string
	}{
		{name: "text", before: "a\n", after: "b\n", wantDiff: "--- desk\n+++ local\n@@ -1 +1 @@\n-a\n+b\n"},
		{name: "equal text", before: "a\n", after: "a\n"},
		{name: "NUL on Desk", before: "a\x00\n", after: "b\n", wantNote: NoteBinary},
		{name: "NUL locally", before: "a\n", after: "\x00", wantNote: NoteBinary},
		{name: "invalid UTF-8", before: "a\n", after: "\xff\xfe", wantNote: NoteBinary},
		{name: "large on Desk", before: big, after: "a\n", wantNote: NoteLarge},
		{name: "large locally", before: "a\n", after: big, wantNote: NoteLarge},
		{name: "exactly the limit", before: strings.Repeat("a", MaxDiffSize), after: strings.Repeat("a", MaxDiffSize-1) + "b",
			wantDiff: "--- desk\n+++ local\n@@ -1 +1 @@\n-" + strings.Repeat("a", MaxDiffSize) + "\n\\ No newline at end of file\n+" + strings.Repeat("a", MaxDiffSize-1) + "b\n\\ No newline at end of file\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			diff, note := ContentDiff("desk", "local", []byte(tt.before), []byte(tt.after))
			if diff != tt.wantDiff || note != tt.wantNote {
				t.Errorf("ContentDiff = (%.80q, %q), want (%.80q, %q)", diff, note, tt.wantDiff, tt.wantNote)
			}
		})
	}
}

func TestIsTextTypeAndDiffSkip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mimeType string
		text     bool
	}{
		{"text/plain", true},
		{"text/markdown", true},
		{"text/csv", true},
		{"text/html; charset=utf-8", true},
		{"application/json", true},
		{"application/ld+json", true},
		{"application/xml", true},
		{"application/atom+xml", true},
		{"image/svg+xml", true},
		{"image/png", false},
		{"application/pdf", false},
		{"application/octet-stream", false},
		{"", false},
		{"not a type", false},
	}
	for _, tt := range tests {
		t.Run(tt.mimeType, func(t *testing.T) {
			t.Parallel()
			if got := IsTextType(tt.mimeType); got != tt.text {
				t.Errorf("IsTextType(%q) = %v, want %v", tt.mimeType, got, tt.text)
			}
			want := ""
			if !tt.text {
				want = NoteBinary
			}
			if got := DiffSkip(tt.mimeType, 10, 10); got != want {
				t.Errorf("DiffSkip(%q, 10, 10) = %q, want %q", tt.mimeType, got, want)
			}
		})
	}
	for _, sizes := range [][2]int64{{MaxDiffSize + 1, 1}, {1, MaxDiffSize + 1}} {
		if got := DiffSkip("text/plain", sizes[0], sizes[1]); got != NoteLarge {
			t.Errorf("DiffSkip(text/plain, %d, %d) = %q, want %q", sizes[0], sizes[1], got, NoteLarge)
		}
	}
	if got := DiffSkip("text/plain", MaxDiffSize, MaxDiffSize); got != "" {
		t.Errorf("DiffSkip at exactly the limit = %q, want \"\"", got)
	}
}
