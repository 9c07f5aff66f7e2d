package plan

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// This file is the pure half of `plan --diff`: deciding whether two contents can be
// shown as text, and writing their unified diff. Fetching the live content from Desk
// is package refresh's job, so plan stays offline.

// MaxDiffSize is the largest content, on either side, that `plan --diff` compares.
// Bigger files are rarely read line by line in review, and the cap bounds both the
// download and the diff's CPU time.
const MaxDiffSize = 1 << 20

// DiffContext is how many unchanged lines a diff shows around each change, as
// `diff -u` and git do.
const DiffContext = 3

// Notes put in a change's Reasons in place of a diff.
const (
	NoteBinary = "binary file, not diffed"
	NoteLarge  = "larger than 1 MiB, not diffed"
)

// diffTimeout bounds the diff's search for a minimal edit script; past it go-diff
// returns a correct but coarser diff, so a pathological pair cannot stall a plan.
const diffTimeout = 2 * time.Second

// IsTextType reports whether mimeType names content `plan --diff` shows as text:
// text/*, JSON, XML, SVG, Markdown and CSV, including structured-syntax suffixes
// such as application/ld+json or application/atom+xml. Parameters are ignored.
func IsTextType(mimeType string) bool {
	mt, _, err := mime.ParseMediaType(mimeType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/csv", "application/markdown",
		"application/x-markdown", "image/svg+xml":
		return true
	}
	return false
}

// DiffSkip says why a change whose Desk side has beforeSize bytes and whose local side
// has afterSize bytes of type mimeType is not diffed (NoteLarge or NoteBinary), or ""
// when it may be. It lets a caller decide before downloading anything.
func DiffSkip(mimeType string, beforeSize, afterSize int64) string {
	switch {
	case !IsTextType(mimeType):
		return NoteBinary
	case beforeSize > MaxDiffSize || afterSize > MaxDiffSize:
		return NoteLarge
	}
	return ""
}

// ContentDiff compares the live content before (as Desk serves it) with the local
// content after. It returns the unified diff (empty when they are equal) and a note
// instead when either side is over MaxDiffSize or is not text (a NUL byte or invalid
// UTF-8, whatever its declared type says: a terminal must never be fed binary).
func ContentDiff(beforeName, afterName string, before, after []byte) (diff, note string) {
	switch {
	case len(before) > MaxDiffSize || len(after) > MaxDiffSize:
		return "", NoteLarge
	case !looksText(before) || !looksText(after):
		return "", NoteBinary
	}
	return UnifiedDiff(beforeName, afterName, before, after, DiffContext), ""
}

// looksText reports whether b can be shown as text: valid UTF-8 without NUL bytes.
func looksText(b []byte) bool {
	return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// UnifiedDiff returns the unified diff (the format of `diff -u`) turning before into
// after, labelled beforeName and afterName, with context unchanged lines around each
// change; "" when the two are equal. A last line without a newline is marked
// `\ No newline at end of file`, so that difference is not lost.
func UnifiedDiff(beforeName, afterName string, before, after []byte, context int) string {
	if bytes.Equal(before, after) {
		return ""
	}
	ops := lineDiff(splitLines(string(before)), splitLines(string(after)))
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", beforeName, afterName)
	for _, h := range hunks(ops, max(context, 0)) {
		writeHunk(&b, ops[h.from:h.to])
	}
	return b.String()
}

// lineOp is one line of an edit script: kept (' '), removed ('-') or added ('+'),
// with its 1-based line numbers on each side (the side's next line when absent).
type lineOp struct {
	kind       byte
	text       string
	aLine, bLn int
}

// splitLines cuts s after every newline; a last line without one is kept as is.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// lineDiff diffs two line lists with go-diff. Each distinct line is mapped to one
// rune (skipping the surrogate range, which a Go string cannot hold), the runes are
// diffed, and the result is mapped back to lines: the line-mode diff go-diff's
// documentation recommends, without its helper's string round trip.
func lineDiff(a, b []string) []lineOp {
	ids := map[string]rune{}
	var lines []string
	encode := func(ls []string) []rune {
		rs := make([]rune, len(ls))
		for i, l := range ls {
			r, ok := ids[l]
			if !ok {
				r = indexRune(len(lines))
				ids[l] = r
				lines = append(lines, l)
			}
			rs[i] = r
		}
		return rs
	}
	ra, rb := encode(a), encode(b)
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = diffTimeout
	diffs := dmp.DiffMainRunes(ra, rb, false)

	var ops []lineOp
	ai, bi := 1, 1
	for _, d := range diffs {
		for _, r := range d.Text {
			l := lines[runeIndex(r)]
			switch d.Type {
			case diffmatchpatch.DiffEqual:
				ops = append(ops, lineOp{' ', l, ai, bi})
				ai++
				bi++
			case diffmatchpatch.DiffDelete:
				ops = append(ops, lineOp{'-', l, ai, bi})
				ai++
			case diffmatchpatch.DiffInsert:
				ops = append(ops, lineOp{'+', l, ai, bi})
				bi++
			}
		}
	}
	return ops
}

// indexRune and runeIndex map a line number to a rune outside U+D800–U+DFFF and back.
// MaxDiffSize keeps the count of distinct lines far below the ~1.1 million runes
// available.
func indexRune(i int) rune {
	if i >= 0xD800 {
		return rune(i + 0x800)
	}
	return rune(i)
}

func runeIndex(r rune) int {
	if r >= 0xE000 {
		return int(r) - 0x800
	}
	return int(r)
}

// span is a hunk: ops[from:to].
type span struct{ from, to int }

// hunks groups the changed lines of ops with context lines around them, merging groups
// whose context would touch or overlap, as diff -u does.
func hunks(ops []lineOp, context int) []span {
	var out []span
	for i := 0; i < len(ops); i++ {
		if ops[i].kind == ' ' {
			continue
		}
		from := max(i-context, 0)
		// Extend to the last change whose leading context meets this hunk's trailing context.
		end := i
		for j := i + 1; j < len(ops); j++ {
			if ops[j].kind == ' ' {
				continue
			}
			if j-end-1 > 2*context {
				break
			}
			end = j
		}
		to := min(end+context+1, len(ops))
		out = append(out, span{from, to})
		i = to - 1
	}
	return out
}

// writeHunk writes one hunk with its @@ header.
func writeHunk(b *strings.Builder, ops []lineOp) {
	aStart, bStart := ops[0].aLine, ops[0].bLn
	aCount, bCount := 0, 0
	for _, o := range ops {
		if o.kind != '+' {
			aCount++
		}
		if o.kind != '-' {
			bCount++
		}
	}
	fmt.Fprintf(b, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
	for _, o := range ops {
		b.WriteByte(o.kind)
		b.WriteString(o.text)
		if !strings.HasSuffix(o.text, "\n") {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange writes a side's range as diff -u does: "start,count", just "start" for
// one line, and the line before for an empty side.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}
