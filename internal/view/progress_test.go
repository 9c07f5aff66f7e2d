package view

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/syncbuf"
	"github.com/desksync/desksync/plan"
)

// progressHinted is an error with a remedy, like the ones apply and desk return.
type progressHinted struct{ msg, hint string }

func (e *progressHinted) Error() string { return e.msg }
func (e *progressHinted) Hint() string  { return e.hint }

// progressScript drives p through one apply with every kind of event, in a fixed
// order, and returns the result it ended with. step is called between events so
// that a test clock can move.
func progressScript(p apply.Progress, step func()) *apply.Result {
	uploadErr := &apply.ActionError{Address: "docs/x.pdf", Step: "upload to S3", Err: &progressHinted{
		msg:  `desk: upload "x.pdf" to S3: 403 Forbidden: AccessDenied: Invalid according to Policy`,
		hint: "the upload form was changed in transit",
	}}
	res := &apply.Result{
		Created: 1, Updated: 1, Replaced: 1, Deleted: 1, Moved: 1, Cleaned: 1, Total: 8,
		Failures: []apply.Failure{{Address: "docs/x.pdf", Action: "create", Err: uploadErr}},
		Skipped:  []apply.Failure{{Address: "z/late.txt", Action: "update", Err: apply.ErrInterrupted}},
	}
	// ev is the event as Finish gets it; Start gets it without what apply learns
	// while the action runs (the new file's ID, whether a pending upload was adopted).
	events := []struct {
		ev      apply.Event
		advance []int64
		err     error
	}{
		{ev: apply.Event{Address: "a/new.png", Action: "cleanup", Kind: "pending", ID: 130, Adopted: true}},
		{ev: apply.Event{Address: "b/old.pdf", Action: "cleanup", Kind: "deposed", ID: 118}},
		{ev: apply.Event{Address: "c/tmp.png", Action: "cleanup", Kind: "pending", ID: 129}},
		{ev: apply.Event{Address: "images/logo.png", Action: "create", Size: 14358, ID: 123}, advance: []int64{8192, 14358}},
		{ev: apply.Event{Address: "docs/guide.pdf", Action: "replace", Size: 2048, ID: 131, PrevID: 100}, advance: []int64{2048}},
		{ev: apply.Event{Address: "docs/x.pdf", Action: "create", Size: 1000}, advance: []int64{1000, 0}, err: uploadErr},
		{ev: apply.Event{Address: "images/icon.svg", Action: "update", ID: 77}},
		{ev: apply.Event{Address: "images/hero.png", Action: "move", PreviousAddress: "img/hero.png", ID: 88}},
		{ev: apply.Event{Address: "gone.txt", Action: "delete", ID: 55}},
		{ev: apply.Event{Address: "docs/guide.pdf", Action: "delete", Kind: "deposed", ID: 100}},
		{ev: apply.Event{Address: "e/broken.txt", Action: "delete", ID: 56}, err: errors.New("500 Internal Server Error")},
	}
	p.Begin(apply.Totals{Actions: 12, Bytes: 17406})
	for _, e := range events {
		step()
		start := e.ev
		start.Adopted = false
		if start.Action == "create" || start.Action == "replace" {
			start.ID = 0
		}
		p.Start(start)
		for _, n := range e.advance {
			step()
			p.Advance(e.ev.Address, n)
		}
		step()
		p.Finish(e.ev, e.err)
	}
	step()
	p.End(res)
	return res
}

// progressGolden compares got with testdata/name; PROGRESS_UPDATE_GOLDEN=1 rewrites it.
// (An environment variable rather than a flag: flags are package-level state shared
// with the plan renderer's tests.)
func progressGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("PROGRESS_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (PROGRESS_UPDATE_GOLDEN=1 creates it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestLinesGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	res := progressScript(NewLines(&buf), func() {})
	buf.WriteString(ApplySummary(res) + "\n")
	progressGolden(t, "progress_lines.golden", buf.Bytes())
}

// progressClock is a test clock that moves only when told to.
type progressClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *progressClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *progressClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestNDJSONGolden(t *testing.T) {
	t.Parallel()
	clock := &progressClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	if err := WritePlanEventAt(&buf, map[string]any{"format_version": "1", "changes": []any{}}, clock.now()); err != nil {
		t.Fatal(err)
	}
	progressScript(NewNDJSON(&buf, clock.now), func() { clock.add(100 * time.Millisecond) })
	progressGolden(t, "progress.ndjson.golden", buf.Bytes())

	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, `{"type":"`) || !strings.HasSuffix(line, "}") {
			t.Errorf("line %d is not one JSON object: %s", i+1, line)
		}
	}
}

// TestWritePlanEvent checks that a plan is written as the same document as
// `plan --format json`, on one line.
func TestWritePlanEvent(t *testing.T) {
	t.Parallel()
	p := &plan.Plan{Changes: []plan.Change{{Address: "a.txt", Action: plan.Create, Reasons: []string{"new file"},
		After: &plan.Attrs{Filename: "a.txt", MimeType: "text/plain", Disposition: "attachment", Type: "attachment", Size: 5, Blake3: strings.Repeat("ab", 32)}}},
		Lineage: "secret-free", Files: map[string]plan.FileDigest{"a.txt": {Size: 5}}}
	var buf bytes.Buffer
	if err := WritePlanEventAt(&buf, p, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"plan","time":"2026-11-26T10:00:00.000Z","plan":{"format_version":"1","refreshed":false,"changes":[{"address":"a.txt","action":"create","before":null,` +
		`"after":{"filename":"a.txt","mimeType":"text/plain","disposition":"attachment","type":"attachment","size":5,"blake3":"` + strings.Repeat("ab", 32) + `"},` +
		`"reasons":["new file"]}],"summary":{"create":1,"update":0,"replace":0,"delete":0,"move":0,"cleanup":0}}}` + "\n"
	if buf.String() != want {
		t.Errorf("plan event\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestNDJSONThrottle checks that progress events of one upload come at most every
// 250ms, except the one that reports the upload complete.
func TestNDJSONThrottle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// steps are (milliseconds to advance the clock, bytes sent).
		steps [][2]int64
		want  []string // the "bytes" of the progress events written
	}{
		{"first is always written", [][2]int64{{0, 10}}, []string{`"bytes":10`}},
		{"burst is cut", [][2]int64{{0, 10}, {100, 20}, {100, 30}, {100, 40}}, []string{`"bytes":10`, `"bytes":40`}},
		{"completion always written", [][2]int64{{0, 10}, {1, 100}}, []string{`"bytes":10`, `"bytes":100`}},
		{"repeated value dropped", [][2]int64{{0, 10}, {500, 10}}, []string{`"bytes":10`}},
		{"slow uploads report each step", [][2]int64{{0, 10}, {250, 20}, {250, 30}}, []string{`"bytes":10`, `"bytes":20`, `"bytes":30`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &progressClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			var buf bytes.Buffer
			p := NewNDJSON(&buf, clock.now)
			p.Start(apply.Event{Address: "f.bin", Action: "create", Size: 100})
			for _, s := range tt.steps {
				clock.add(time.Duration(s[0]) * time.Millisecond)
				p.Advance("f.bin", s[1])
			}
			var got []string
			for _, line := range strings.Split(buf.String(), "\n") {
				if strings.Contains(line, `"type":"progress"`) {
					i := strings.Index(line, `"bytes":`)
					got = append(got, line[i:strings.IndexByte(line[i:], ',')+i])
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("progress events %v, want %v", got, tt.want)
			}
		})
	}
}

func TestApplySummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *apply.Result
		want string
	}{
		{"spec example", &apply.Result{Created: 3, Updated: 1, Replaced: 1, Deleted: 1, Total: 6},
			"Apply complete: 3 created, 1 updated, 1 replaced, 1 deleted."},
		{"moves after the four", &apply.Result{Created: 1, Moved: 2, Total: 3},
			"Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted, 2 moved."},
		{"nothing", &apply.Result{}, "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted."},
		{"nil", nil, "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted."},
		{"cleanups", &apply.Result{Created: 1, Cleaned: 2, Total: 3},
			"Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted; 2 leftovers of an earlier apply cleaned up."},
		{"failures and skips, error without address", &apply.Result{Created: 1, Total: 4,
			Failures: []apply.Failure{
				{Address: "a.txt", Action: "create", Err: &apply.ActionError{Address: "a.txt", Step: "create ref", Err: errors.New("400 Bad Request: filename: must not be empty")}},
				{Address: "b.txt", Action: "delete", Err: errors.New("500 Internal Server Error")},
			},
			Skipped: []apply.Failure{{Address: "c.txt", Action: "update", Err: apply.ErrInterrupted}},
		}, "Apply incomplete: 1 created, 0 updated, 0 replaced, 0 deleted, 2 failed, 1 not started."},
		{"abandoned by a second Ctrl-C are not finished, not failed", &apply.Result{Created: 1, Total: 4,
			Abandoned: []apply.Failure{{Address: "a.txt", Action: "create", Err: context.Canceled}},
			Skipped:   []apply.Failure{{Address: "c.txt", Action: "update", Err: apply.ErrInterrupted}, {Address: "d.txt", Action: "update", Err: apply.ErrInterrupted}},
		}, "Apply incomplete: 1 created, 0 updated, 0 replaced, 0 deleted, 1 not finished, 2 not started."},
		{"singular", &apply.Result{Total: 1, Failures: []apply.Failure{{Address: "a", Action: "delete", Err: errors.New("boom")}}},
			"Apply incomplete: 0 created, 0 updated, 0 replaced, 0 deleted, 1 failed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ApplySummary(tt.res); got != tt.want {
				t.Errorf("ApplySummary:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestAbandonedNotFailed: changes cut short by the hard stop are "not finished" in
// the error text and in the NDJSON summary, never among the failures.
func TestAbandonedNotFailed(t *testing.T) {
	t.Parallel()
	res := &apply.Result{Total: 3,
		Abandoned: []apply.Failure{{Address: "a.txt", Action: "create", Err: &apply.ActionError{Address: "a.txt", Step: "upload to S3", Err: context.Canceled}}},
		Skipped:   []apply.Failure{{Address: "b.txt", Action: "create", Err: errors.New("not started: context canceled")}},
	}
	want := "1 of 3 changes not finished: abandoned when apply was stopped (the next apply finishes them):\n  a.txt (create)\n" +
		"1 of 3 changes not started: context canceled (desksync plan shows what is left)"
	if got := CompactFailures(res.Err()).Error(); got != want {
		t.Errorf("CompactFailures:\n%s\nwant:\n%s", got, want)
	}
	var buf bytes.Buffer
	NewNDJSON(&buf, func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }).End(res)
	const wantJSON = `"failed":[],"not_started":[{"address":"b.txt","action":"create","error":"not started: context canceled"}],` +
		`"not_finished":[{"address":"a.txt","action":"create","error":"a.txt: upload to S3: context canceled"}]}}`
	if !strings.HasSuffix(strings.TrimSpace(buf.String()), wantJSON) {
		t.Errorf("NDJSON summary:\n%s\nwant it to end with:\n%s", buf.String(), wantJSON)
	}
}

// TestBarsToBuffer runs the bars renderer, concurrently as apply does, against a
// plain buffer: it must not panic or deadlock, must print every finished action's line
// and must be stopped by End so that the summary printed after it is the last thing.
func TestBarsToBuffer(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	p := NewBars(&buf, 8)
	p.Begin(apply.Totals{Actions: 8, Bytes: 8 * 4096})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := apply.Event{Address: "dir/file" + string(rune('a'+i)) + ".bin", Action: "create", Size: 4096, ID: int64(200 + i)}
			p.Start(ev)
			for n := int64(512); n <= 4096; n += 512 {
				p.Advance(ev.Address, n)
			}
			var err error
			if i == 3 {
				p.Advance(ev.Address, 0) // a retry starts over
				err = errors.New("dir/filed.bin: upload to S3: 403 Forbidden")
			}
			p.Finish(ev, err)
		}()
	}
	wg.Wait()
	res := &apply.Result{Created: 7, Total: 8, Failures: []apply.Failure{{Address: "dir/filed.bin", Action: "create", Err: errors.New("dir/filed.bin: upload to S3: 403 Forbidden")}}}
	p.End(res)
	// Calls after End must be harmless: a late Finish from a hard stop.
	p.Finish(apply.Event{Address: "late", Action: "delete", ID: 1}, nil)
	p.End(res)
	summary := ApplySummary(res)
	buf.WriteString(summary + "\n")

	out := buf.String()
	for _, want := range []string{
		"+ dir/filea.bin: created (id 200, 4.0 KiB)",
		"+ dir/fileh.bin: created (id 207, 4.0 KiB)",
		"! dir/filed.bin: upload to S3: 403 Forbidden",
		"- late: deleted (id 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, summary+"\n") {
		t.Errorf("output does not end with the summary:\n%q", out)
	}
}

func TestBarName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"images/logo.png", "images/logo.png"},
		{"a/very/long/path/that/goes/on/and/on/logo.png", "…h/that/goes/on/and/on/logo.png"},
	}
	for _, tt := range tests {
		if got := barName(tt.in); got != tt.want {
			t.Errorf("barName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
