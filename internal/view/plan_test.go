package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/plan"
)

// update rewrites the plan goldens: go test ./view -update, then review the diff.
var update = flag.Bool("update", false, "rewrite testdata/plan_*.golden from the current output")

const (
	hashA = "1111111111111111111111111111111111111111111111111111111111111111"
	hashB = "2222222222222222222222222222222222222222222222222222222222222222"
	hashC = "3333333333333333333333333333333333333333333333333333333333333333"
)

// fullPlan has one change of every action, both kinds of cleanup and a warning.
func fullPlan() *plan.Plan {
	since := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return &plan.Plan{
		Changes: []plan.Change{
			{Address: "a/big.bin", Action: plan.Create,
				After:   &plan.Attrs{Filename: "big.bin", MimeType: "application/octet-stream", Disposition: "attachment", Type: "attachment", Size: 14336, Blake3: hashA},
				Reasons: []string{"new file, 14.0 KiB"}},
			{Address: "docs/guide.pdf", Action: plan.Replace,
				Before:  &plan.Attrs{ID: 118, Filename: "guide.pdf", MimeType: "application/pdf", Disposition: "attachment", Type: "attachment", Size: 1258291, Blake3: hashB},
				After:   &plan.Attrs{Filename: "guide.pdf", MimeType: "application/pdf", Disposition: "attachment", Type: "attachment", Size: 1363149, Blake3: hashC},
				Reasons: []string{"content changed, 1.2 MiB -> 1.3 MiB"}},
			{Address: "images/hero.png", PreviousAddress: "img/hero.png", Action: plan.Move,
				Before:  &plan.Attrs{ID: 77, Filename: "hero.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment", Size: 9, Blake3: hashC},
				After:   &plan.Attrs{ID: 77, Filename: "hero.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment", Size: 9, Blake3: hashC},
				Reasons: []string{"moved from img/hero.png"}},
			{Address: "images/logo.png", Action: plan.Update,
				Before: &plan.Attrs{ID: 123, Filename: "logo.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment", Size: 7, Blake3: hashA},
				After:  &plan.Attrs{ID: 123, Filename: "brand.png", MimeType: "image/png", Disposition: "attachment-inline", Type: "attachment", Size: 7, Blake3: hashA},
				Reasons: []string{`filename: "logo.png" -> "brand.png"`,
					`disposition: "attachment" -> "attachment-inline"`}},
			{Address: "old/gone.png", Action: plan.Delete,
				Before:  &plan.Attrs{ID: 99, Filename: "gone.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment", Size: 4, Blake3: hashB},
				Reasons: []string{"not in the manifest"}},
		},
		Cleanups: []plan.Cleanup{
			{Address: "docs/old.pdf", ID: 117, Kind: plan.CleanupDeposed, Filename: "old.pdf", Size: 2048, Since: since},
			{Address: "images/new.png", ID: 130, Kind: plan.CleanupPending, Blake3: hashC, Since: since},
		},
		Warnings:    []string{"refusing to delete 1 of 3 tracked attachments: more than the limit of 0; if that is intended, run again with --max-delete 1 (or a percentage, e.g. --max-delete 34%)"},
		StateExists: true, Lineage: "4f1c9b0e", Serial: 12, Tracked: 3,
		Files: map[string]plan.FileDigest{"a/big.bin": {Size: 14336, Blake3: hashA}},
	}
}

// trickyPlan has addresses that try to break out of a table, a code span or the
// terminal, and a diff.
func trickyPlan() *plan.Plan {
	return &plan.Plan{
		Changes: []plan.Change{
			{Address: "docs/a|b`c`.md", Action: plan.Replace,
				Before:  &plan.Attrs{ID: 5, Filename: "a|b`c`.md", MimeType: "text/markdown", Disposition: "attachment", Type: "attachment", Size: 6, Blake3: hashA},
				After:   &plan.Attrs{Filename: "a|b`c`.md", MimeType: "text/markdown", Disposition: "attachment", Type: "attachment", Size: 6, Blake3: hashB},
				Reasons: []string{"content changed, 6 B -> 6 B"},
				Diff:    "--- desk\n+++ local\n@@ -1 +1 @@\n-*old*\n+<b>new</b> ```\n"},
			{Address: "evil\x1b[2Jname.png", Action: plan.Create,
				After:   &plan.Attrs{Filename: "x.png", MimeType: "image/png", Disposition: "attachment", Type: "attachment", Size: 1, Blake3: hashC},
				Reasons: []string{"new file, 1 B"}},
			{Address: "`tick", Action: plan.Create,
				After:   &plan.Attrs{Filename: "tick", MimeType: "text/plain", Disposition: "attachment", Type: "attachment", Size: 1, Blake3: hashC},
				Reasons: []string{"new file, 1 B"}},
		},
		Files: map[string]plan.FileDigest{},
	}
}

// cleanupsOnlyPlan has nothing to change but an interrupted upload to settle.
func cleanupsOnlyPlan() *plan.Plan {
	return &plan.Plan{
		Changes:  []plan.Change{},
		Cleanups: []plan.Cleanup{{Address: "images/new.png", ID: 130, Kind: plan.CleanupPending, Blake3: hashC}},
		Files:    map[string]plan.FileDigest{},
	}
}

func emptyPlan() *plan.Plan {
	return &plan.Plan{Changes: []plan.Change{}, Files: map[string]plan.FileDigest{"a.png": {Size: 1, Blake3: hashA}}}
}

// partialPlan is limited by --target and --exclude and was made after reading Desk.
func partialPlan() *plan.Plan {
	p := emptyPlan()
	p.Scope = plan.Scope{Target: []string{"images/**/*.png", "docs"}, Exclude: []string{"images/old it's.png"}}
	p.Refreshed = true
	return p
}

func TestRenderPlanGolden(t *testing.T) {
	t.Parallel()
	plans := []struct {
		name string
		plan func() *plan.Plan
		// state is where the plan's header says the state was read from.
		state string
	}{
		{"full", fullPlan, "desksync.state.json"},
		{"empty", emptyPlan, ""},
		{"cleanups", cleanupsOnlyPlan, "s3://team-bucket/desk/desksync.state.json"},
		{"tricky", trickyPlan, "states/it's `odd`\x1b[2J.json"},
		{"partial", partialPlan, "/ci/shared/desksync.state.json"},
	}
	variants := []struct {
		name, format string
		color        bool
	}{
		{"text", "text", false},
		{"text_color", "text", true},
		{"json", "json", false},
		{"markdown", "markdown", false},
	}
	for _, p := range plans {
		for _, v := range variants {
			name := "plan_" + p.name + "_" + v.name
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				if err := RenderPlan(&buf, p.plan(), v.format, PlanOptions{Color: v.color, State: p.state}); err != nil {
					t.Fatal(err)
				}
				golden(t, name+".golden", buf.Bytes())
			})
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./view -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./view -update rewrites it):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// TestPlanJSONShape checks the document against docs/plans.md key by key, independent of
// the goldens.
func TestPlanJSONShape(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := RenderPlan(&buf, fullPlan(), "json", PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if got := keys(doc); !reflect.DeepEqual(got, []string{"changes", "cleanups", "format_version", "refreshed", "summary", "warnings"}) {
		t.Errorf("top-level keys = %q", got)
	}
	if doc["format_version"] != "1" {
		t.Errorf("format_version = %v", doc["format_version"])
	}
	want := map[string]any{"create": 1.0, "update": 1.0, "replace": 1.0, "delete": 1.0, "move": 1.0, "cleanup": 2.0}
	if !reflect.DeepEqual(doc["summary"], want) {
		t.Errorf("summary = %v", doc["summary"])
	}
	changes := doc["changes"].([]any)
	for _, c := range changes {
		c := c.(map[string]any)
		wantKeys := []string{"action", "address", "after", "before", "reasons"}
		if c["action"] == "move" {
			wantKeys = []string{"action", "address", "after", "before", "previous_address", "reasons"}
		}
		if got := keys(c); !reflect.DeepEqual(got, wantKeys) {
			t.Errorf("%v: keys = %q (diff and previous_address must be omitted when empty)", c["address"], got)
		}
		switch c["action"] {
		case "move":
			if c["previous_address"] != "img/hero.png" {
				t.Errorf("move: previous_address = %v", c["previous_address"])
			}
		case "create":
			if c["before"] != nil {
				t.Errorf("create %v: before = %v, want null", c["address"], c["before"])
			}
		case "delete":
			if c["after"] != nil {
				t.Errorf("delete %v: after = %v, want null", c["address"], c["after"])
			}
		}
	}
	if !strings.Contains(buf.String(), `"logo.png\" -> \"brand.png\""`) {
		t.Error("reasons are HTML-escaped or missing; want -> written as is")
	}

	// An empty plan still has arrays, not nulls, and no optional keys.
	buf.Reset()
	if err := RenderPlan(&buf, emptyPlan(), "json", PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	const wantEmpty = `{
  "format_version": "1",
  "refreshed": false,
  "changes": [],
  "summary": {
    "create": 0,
    "update": 0,
    "replace": 0,
    "delete": 0,
    "move": 0,
    "cleanup": 0
  }
}
`
	if buf.String() != wantEmpty {
		t.Errorf("empty plan:\n%s\nwant\n%s", buf.String(), wantEmpty)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestFormatsAgree renders each plan in all formats and checks that text and
// markdown name every change, reason and cleanup of the JSON document, and the
// same summary.
func TestFormatsAgree(t *testing.T) {
	t.Parallel()
	for _, p := range []*plan.Plan{fullPlan(), emptyPlan(), cleanupsOnlyPlan()} {
		doc := PlanDocument(p)
		text := render(t, p, "text")
		md := render(t, p, "markdown")
		for _, c := range doc.Changes {
			if !strings.Contains(text, c.Address) || !strings.Contains(md, c.Address) {
				t.Errorf("%s missing from text or markdown", c.Address)
			}
			for _, r := range c.Reasons {
				if !strings.Contains(text, r) || !strings.Contains(md, quote.Code(r, true)) {
					t.Errorf("%s: reason %q missing from text or markdown", c.Address, r)
				}
			}
		}
		for _, c := range doc.Cleanups {
			if !strings.Contains(text, c.Description) || !strings.Contains(md, c.Description) {
				t.Errorf("cleanup %q missing", c.Description)
			}
		}
		s := doc.Summary
		if len(doc.Changes)+len(doc.Cleanups) == 0 {
			if !strings.HasPrefix(text, "No changes.") || !strings.HasPrefix(md, "No changes.") {
				t.Errorf("empty plan does not start with No changes.:\n%s\n%s", text, md)
			}
			continue
		}
		line := strings.TrimPrefix(strings.TrimSpace(text[strings.LastIndex(strings.TrimSpace(text), "\n"):]), "Plan: ")
		mdLine := strings.TrimPrefix(strings.SplitN(md, "\n", 2)[0], "**Plan:** ")
		counts := []string{itoa(s.Create) + " to create", itoa(s.Update) + " to update", itoa(s.Replace) + " to replace", itoa(s.Delete) + " to delete"}
		if s.Move > 0 {
			counts = append(counts, itoa(s.Move)+" to move")
		}
		if s.Cleanup > 0 {
			counts = append(counts, itoa(s.Cleanup)+" to clean up")
		}
		wantLine := strings.Join(counts, ", ") + "."
		if line != wantLine || mdLine != wantLine {
			t.Errorf("summary lines:\ntext %q\nmd   %q\nwant %q", line, mdLine, wantLine)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func render(t *testing.T, p *plan.Plan, format string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderPlan(&buf, p, format, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRenderPlanNoColorMeansNoEscapes(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"", "text", "markdown", "json"} {
		for _, p := range []*plan.Plan{fullPlan(), trickyPlan()} {
			if s := render(t, p, format); strings.Contains(s, "\x1b") {
				t.Errorf("format %q without colour writes an escape character:\n%q", format, s)
			}
		}
	}
}

func TestRenderPlanErrors(t *testing.T) {
	t.Parallel()
	err := RenderPlan(&bytes.Buffer{}, emptyPlan(), "yaml", PlanOptions{})
	const want = `unknown plan format "yaml": want text, json or markdown`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	var h interface{ Hint() string }
	if !errors.As(err, &h) || h.Hint() != "use --format text, --format json or --format markdown" {
		t.Errorf("hint missing: %v", err)
	}

	for _, format := range []string{"text", "json", "markdown"} {
		if err := RenderPlan(failWriter{}, fullPlan(), format, PlanOptions{}); !errors.Is(err, errClosed) {
			t.Errorf("%s to a failing writer: err = %v, want the writer's error", format, err)
		}
	}
}

var errClosed = errors.New("pipe closed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errClosed }

// bigPlan has n creates with addresses as long as a help centre's usually are.
func bigPlan(n int) *plan.Plan {
	p := &plan.Plan{Changes: []plan.Change{}, Files: map[string]plan.FileDigest{}}
	for i := range n {
		addr := fmt.Sprintf("help-centre/articles/section-%02d/images/screenshot-%05d.png", i%40, i)
		p.Changes = append(p.Changes, plan.Change{Address: addr, Action: plan.Create,
			After:   &plan.Attrs{Filename: path.Base(addr), MimeType: "image/png", Disposition: "attachment-inline", Type: "attachment", Size: 48213, Blake3: hashA},
			Reasons: []string{"new file, 47.1 KiB"}})
	}
	return p
}

// TestMarkdownFitsAComment: a plan too long for one GitHub comment keeps its
// summary and as many rows as fit, then says how many are left out and where the
// full plan is.
func TestMarkdownFitsAComment(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 3000} {
		full := PlanDocument(bigPlan(n))
		whole := planMarkdown(full, math.MaxInt)
		got := render(t, bigPlan(n), "markdown")
		if len(whole) <= MarkdownCommentLimit-MarkdownHeadroom {
			if got != whole {
				t.Errorf("%d changes: a plan that fits was cut", n)
			}
			continue
		}
		t.Logf("%d changes: %d characters in full, %d after the cut", n, len(whole), len(got))
		if len(got) > MarkdownCommentLimit-MarkdownHeadroom {
			t.Fatalf("%d changes: %d characters, more than %d", n, len(got), MarkdownCommentLimit-MarkdownHeadroom)
		}
		if !strings.HasPrefix(got, fmt.Sprintf("**Plan:** %d to create,", n)) {
			t.Errorf("summary missing: %.80q", got)
		}
		rows := strings.Count(got, "| `+` create |")
		note := fmt.Sprintf("_%d of %d entries (changes, cleanups, diffs) are not shown", n-rows, n)
		if !strings.Contains(got, note) || !strings.Contains(got, "`desksync plan --format json`") {
			t.Errorf("note missing or wrong, want %q in the tail:\n%s", note, got[len(got)-400:])
		}
		if rows < 300 {
			t.Errorf("only %d rows of %d shown", rows, n)
		}
		if !strings.Contains(got, "uploaded as `screenshot-00000.png`, `attachment-inline`") {
			t.Errorf("create rows do not show the upload name and disposition")
		}
	}
	// A small limit keeps the summary and the note, even with no row at all.
	var buf bytes.Buffer
	if err := RenderPlan(&buf, bigPlan(5), "markdown", PlanOptions{MarkdownLimit: 400}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "**Plan:** 5 to create") || !strings.Contains(buf.String(), "of 5 entries") {
		t.Errorf("small limit:\n%s", buf.String())
	}
}
