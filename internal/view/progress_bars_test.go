package view

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/syncbuf"
	"github.com/desksync/desksync/plan"
)

// screen is what a terminal shows after the bytes written to it: enough of a VT100 for
// mpb, which redraws its bars by moving the cursor up (ESC [ n A) and erasing to the
// end of the screen (ESC [ J).
func screen(out string) []string {
	var lines []string
	row, col := 0, 0
	put := func(r rune) {
		for len(lines) <= row {
			lines = append(lines, "")
		}
		line := []rune(lines[row])
		for len(line) < col {
			line = append(line, ' ')
		}
		if col < len(line) {
			line[col] = r
		} else {
			line = append(line, r)
		}
		lines[row] = string(line)
		col++
	}
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\n':
			row, col = row+1, 0
		case '\r':
			col = 0
		case '\x1b':
			j := i + 2 // past ESC [
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9') {
				j++
			}
			if j >= len(rs) {
				return lines
			}
			n, _ := strconv.Atoi(string(rs[i+2 : j]))
			switch rs[j] {
			case 'A':
				row = max(row-n, 0)
			case 'J':
				if row < len(lines) {
					lines[row] = string([]rune(lines[row])[:min(col, len([]rune(lines[row])))])
					lines = lines[:row+1]
				}
			}
			i = j
		default:
			put(r)
		}
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// newTestBars draws to buf as on a 100-column terminal.
func newTestBars(buf *syncbuf.Buffer, changes int) *barProgress {
	return newBars(buf, changes, mpb.ForceTTY(), mpb.WithWidth(100))
}

// waitScreen waits for the next redraws until the screen satisfies ok (bars redraw
// on a timer), and fails the test with the last screen after 5 s.
func waitScreen(t *testing.T, buf *syncbuf.Buffer, what string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := screen(buf.String())
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed %s:\n%s", what, strings.Join(s, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasLine(pattern string) func([]string) bool {
	re := regexp.MustCompile(pattern)
	return func(s []string) bool { return slices.ContainsFunc(s, re.MatchString) }
}

// TestBarsScreen follows what a person sees during an apply of two replaces: one
// overall "changes" bar counting each replace once, a bytes bar in the plan's units,
// a bar only for an upload whose bytes move, finished bars gone, and at the end
// nothing but the per-action lines.
func TestBarsScreen(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	p := newTestBars(&buf, 2)
	// Two replaces are four actions: two uploads, then the two old halves deleted.
	p.Begin(apply.Totals{Actions: 4, Bytes: 2 * 4096})
	a := apply.Event{Address: "img/a.bin", Action: plan.Replace.String(), Size: 4096, ID: 11, PrevID: 1}
	b := apply.Event{Address: "img/b.bin", Action: plan.Replace.String(), Size: 4096, ID: 12, PrevID: 2}
	p.Start(a)
	p.Start(b)
	p.Advance(a.Address, 2048)

	s := waitScreen(t, &buf, "a bar for the running upload", hasLine(`img/a\.bin .*2\.0 KiB / 4\.0 KiB`))
	for _, want := range []string{`^changes .* 0 / 2 `, `^bytes .* 2\.0 KiB / 8\.0 KiB `} {
		if !hasLine(want)(s) {
			t.Errorf("screen lacks %q:\n%s", want, strings.Join(s, "\n"))
		}
	}
	if hasLine(`img/b\.bin`)(s) {
		t.Errorf("an upload that has sent nothing has a bar:\n%s", strings.Join(s, "\n"))
	}

	p.Finish(a, nil)
	waitScreen(t, &buf, "the finished upload's line, 1 of 2 changes, and its bar gone", func(s []string) bool {
		return hasLine(`^-/\+ img/a\.bin: new version uploaded`)(s) && hasLine(`^changes .* 1 / 2 `)(s) &&
			!hasLine(`img/a\.bin .*KiB`)(s)
	})

	p.Finish(b, nil)
	for _, old := range []apply.Event{a, b} {
		del := apply.Event{Address: old.Address, Action: plan.Delete.String(), Kind: apply.KindDeposed, ID: old.PrevID}
		p.Start(del)
		p.Finish(del, nil)
	}
	waitScreen(t, &buf, "the old halves counted with their replaces", hasLine(`^changes .* 2 / 2 `))
	p.End(&apply.Result{Replaced: 2, Total: 2})

	s = screen(buf.String())
	want := []string{
		"-/+ img/a.bin: new version uploaded (id 11, 4.0 KiB); old id 1 to be deleted",
		"-/+ img/b.bin: new version uploaded (id 12, 4.0 KiB); old id 2 to be deleted",
		"- img/a.bin: old version deleted (id 1)",
		"- img/b.bin: old version deleted (id 2)",
	}
	if !slices.Equal(s, want) {
		t.Errorf("after End the screen is\n%s\nwant only the lines\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

// TestBarsNothingToUpload: a run of deletes has no bytes bar, and no "0.0 b" anywhere.
func TestBarsNothingToUpload(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	p := newTestBars(&buf, 1)
	p.Begin(apply.Totals{Actions: 1})
	s := waitScreen(t, &buf, "the changes bar", hasLine(`^changes .* 0 / 1 `))
	if hasLine(`bytes|0\.0 b`)(s) {
		t.Errorf("a run that uploads nothing shows a bytes bar:\n%s", strings.Join(s, "\n"))
	}
	ev := apply.Event{Address: "old.txt", Action: plan.Delete.String(), ID: 5}
	p.Start(ev)
	p.Finish(ev, nil)
	p.End(&apply.Result{Deleted: 1, Total: 1})
	if s := screen(buf.String()); !slices.Equal(s, []string{"- old.txt: deleted (id 5)"}) {
		t.Errorf("after End the screen is\n%s", strings.Join(s, "\n"))
	}
}

// TestBarsUploadBarsBounded: at high parallelism only maxUploadBars uploads get a bar.
func TestBarsUploadBarsBounded(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	p := newTestBars(&buf, 20)
	p.Begin(apply.Totals{Actions: 20, Bytes: 20 * 100})
	for i := range 20 {
		ev := apply.Event{Address: fmt.Sprintf("f%02d.bin", i), Action: plan.Create.String(), Size: 100}
		p.Start(ev)
		p.Advance(ev.Address, 50)
	}
	s := waitScreen(t, &buf, "the bytes bar at 1000 B", hasLine(`^bytes .*1000 B / 2\.0 KiB`))
	bars := 0
	for _, line := range s {
		if regexp.MustCompile(`^f\d\d\.bin `).MatchString(line) {
			bars++
		}
	}
	if bars != maxUploadBars {
		t.Errorf("%d upload bars on screen, want %d:\n%s", bars, maxUploadBars, strings.Join(s, "\n"))
	}
	p.End(&apply.Result{Total: 20})
}

// TestCompactFailures: Ctrl-C during 300 changes is one line for those not started,
// while every failure keeps its line, and the hint survives.
func TestCompactFailures(t *testing.T) {
	t.Parallel()
	fe := &apply.FailedError{Total: 302}
	fe.Failures = []apply.Failure{
		{Address: "a.png", Action: "create", Err: errors.New("a.png: upload to S3: 403 AccessDenied")},
		{Address: "b.png", Action: "create", Err: errors.New("b.png: create ref: context canceled")},
	}
	for i := range 300 {
		fe.Skipped = append(fe.Skipped, apply.Failure{Address: fmt.Sprintf("f%03d.png", i), Action: "replace", Err: apply.ErrInterrupted})
	}
	fe.Skipped = append(fe.Skipped, apply.Failure{Address: "z.png", Action: "delete", Err: apply.ErrStateNotSaved})
	err := CompactFailures(fe)
	want := `2 of 302 changes failed:
  a.png: upload to S3: 403 AccessDenied
  b.png: create ref: context canceled
300 of 302 changes not started: apply was interrupted (desksync plan shows what is left)
1 of 302 changes not started: the state could not be saved (desksync plan shows what is left)`
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var back *apply.FailedError
	if !errors.As(err, &back) || back != fe {
		t.Error("the compact error does not unwrap to the FailedError")
	}
	if h := hint.Of(err); len(h) != 1 || h[0] != fe.Hint() {
		t.Errorf("hints %q, want the FailedError's", h)
	}
	other := errors.New("boom")
	if CompactFailures(other) != other || CompactFailures(nil) != nil {
		t.Error("CompactFailures changed an error that is not a FailedError")
	}
}

// TestCompactFailuresRefused: a refused API key is said once, with Desk's answer, as
// Result.Err says it; the changes it stopped get no second line.
func TestCompactFailuresRefused(t *testing.T) {
	t.Parallel()
	refused := &desk.AuthError{Op: "create file", Err: &desk.APIError{Status: 401, Message: "invalid API key"}}
	fe := &apply.FailedError{Total: 20, Refused: refused}
	for i := range 20 {
		fe.Skipped = append(fe.Skipped, apply.Failure{Address: fmt.Sprintf("f%02d.txt", i), Action: "create", Err: apply.ErrRefused})
	}
	got := CompactFailures(fe).Error()
	if got != fe.Error() {
		t.Errorf("compact:\n%s\nResult.Err says:\n%s", got, fe.Error())
	}
	if strings.Count(got, "\n") != 0 || !strings.HasPrefix(got, "Desk refused the API key (401 Unauthorized") ||
		!strings.HasSuffix(got, "20 of 20 changes not started") {
		t.Errorf("want one line naming the refusal and what it stopped, got:\n%s", got)
	}
}

// TestAboveBars: a notice printed from outside while bars are drawn (main's "interrupted"
// after Ctrl-C) stays on screen above them instead of being erased by the next redraw;
// after End, and for other renderers, it goes straight to the writer.
func TestAboveBars(t *testing.T) {
	t.Parallel()
	var buf, direct syncbuf.Buffer
	p := newTestBars(&buf, 2)
	above := AboveBars(p, &direct)
	p.Begin(apply.Totals{Actions: 2, Bytes: 100})
	ev := apply.Event{Address: "a.bin", Action: plan.Create.String(), Size: 100, ID: 1}
	p.Start(ev)
	p.Advance(ev.Address, 50)
	waitScreen(t, &buf, "the upload's bar", hasLine(`^a\.bin `))
	fmt.Fprintln(above, "desksync: interrupted: finishing running actions")
	waitScreen(t, &buf, "the notice above the bars", func(s []string) bool {
		return len(s) > 0 && s[0] == "desksync: interrupted: finishing running actions" && hasLine(`^a\.bin `)(s)
	})
	p.Finish(ev, nil)
	p.End(&apply.Result{Created: 1, Total: 2})
	fmt.Fprintln(above, "after")
	want := []string{"desksync: interrupted: finishing running actions", "+ a.bin: created (id 1, 100 B)"}
	if s := screen(buf.String()); !slices.Equal(s, want) {
		t.Errorf("screen after End:\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
	if direct.String() != "after\n" {
		t.Errorf("after End the notice went to %q, want the writer", direct.String())
	}
	if w := AboveBars(NewLines(&direct), &direct); w != io.Writer(&direct) {
		t.Error("AboveBars wrapped a renderer that draws no bars")
	}
}
