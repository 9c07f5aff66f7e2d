package view

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/desksync/desksync/plan"
)

// FormatVersion is the format_version of the JSON plan document. It changes only when
// a field changes meaning or goes away; new fields may be added within a version.
const FormatVersion = "1"

// Document is the JSON plan document of SPEC §3, and the single source the text and
// markdown renderers read, so the three formats cannot disagree.
type Document struct {
	FormatVersion string      `json:"format_version"`
	Changes       []DocChange `json:"changes"`
	// Summary counts Changes by action.
	Summary  plan.Summary `json:"summary"`
	Cleanups []DocCleanup `json:"cleanups,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
}

// DocChange is one change in a Document. Before is the state's record and After the
// desired attributes; each is null where the action has none (Before for a create,
// After for a delete).
type DocChange struct {
	Address string      `json:"address"`
	Action  string      `json:"action"`
	Before  *plan.Attrs `json:"before"`
	After   *plan.Attrs `json:"after"`
	Reasons []string    `json:"reasons"`
	// Diff is the unified diff shown by `plan --diff`; omitted when empty.
	Diff string `json:"diff,omitempty"`
}

// DocCleanup is leftover work from an interrupted apply, done before any change.
type DocCleanup struct {
	Address     string    `json:"address"`
	Kind        string    `json:"kind"`
	ID          int64     `json:"id"`
	Description string    `json:"description"`
	Since       time.Time `json:"since,omitzero"`
}

// PlanDocument builds the JSON document for p. Slices are never nil, so "changes"
// and "reasons" are [] rather than null for scripts that iterate them.
func PlanDocument(p *plan.Plan) Document {
	d := Document{FormatVersion: FormatVersion, Changes: []DocChange{}, Summary: p.Summary()}
	for _, c := range p.Changes {
		if c.Action == plan.NoOp {
			continue
		}
		reasons := c.Reasons
		if reasons == nil {
			reasons = []string{}
		}
		d.Changes = append(d.Changes, DocChange{
			Address: c.Address, Action: c.Action.String(),
			Before: c.Before, After: c.After, Reasons: reasons, Diff: c.Diff,
		})
	}
	for _, c := range p.Cleanups {
		d.Cleanups = append(d.Cleanups, DocCleanup{
			Address: c.Address, Kind: c.Kind, ID: c.ID, Description: c.Description(), Since: c.Since,
		})
	}
	d.Warnings = p.Warnings
	return d
}

// PlanOptions choose how a plan is rendered.
type PlanOptions struct {
	// Color adds ANSI colours to text output. The caller decides once (a terminal,
	// no NO_COLOR); renderers never look at the environment themselves.
	Color bool
}

// PlanFormats are the values RenderPlan accepts, for the --format flag's enum.
const PlanFormats = "text,json,markdown"

// RenderPlan writes p to w as "text" (the default when format is empty), "json" or
// "markdown". Text and markdown are rendered from PlanDocument, like JSON.
func RenderPlan(w io.Writer, p *plan.Plan, format string, opts PlanOptions) error {
	doc := PlanDocument(p)
	switch format {
	case "", "text":
		return writeAll(w, planText(doc, opts.Color))
	case "json":
		return writePlanJSON(w, doc)
	case "markdown":
		return writeAll(w, planMarkdown(doc))
	}
	return &planFormatError{format: format}
}

// planFormatError is an unknown --format value.
type planFormatError struct{ format string }

func (e *planFormatError) Error() string {
	return fmt.Sprintf("unknown plan format %q: want text, json or markdown", e.format)
}

func (e *planFormatError) Hint() string {
	return "use --format text, --format json or --format markdown"
}

func writeAll(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// writePlanJSON writes doc indented, with a trailing newline and without HTML
// escaping, so reasons read `"a.png" -> "b.png"`, not `-\u003e`.
func writePlanJSON(w io.Writer, doc Document) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// ANSI SGR codes, as Terraform colours its plans.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// planActions is the order the legend lists actions in.
func planActions() []plan.Action {
	return []plan.Action{plan.Create, plan.Update, plan.Replace, plan.Delete}
}

// actionStyle gives an action's colour (as Terraform colours it) and legend words.
func actionStyle(a plan.Action) (color, legend string) {
	switch a {
	case plan.Create:
		return ansiGreen, "create"
	case plan.Update:
		return ansiYellow, "update in place"
	case plan.Replace:
		return ansiMagenta, "replace (upload the new file, then delete the old one)"
	case plan.Delete:
		return ansiRed, "delete"
	}
	return "", ""
}

// planActionOf maps a Document action word back to its plan.Action.
func planActionOf(word string) plan.Action {
	var a plan.Action
	if err := a.UnmarshalText([]byte(word)); err != nil {
		return plan.NoOp
	}
	return a
}

// planText renders doc like Terraform's human plan.
func planText(doc Document, color bool) string {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	symbol := func(a plan.Action) string {
		s := fmt.Sprintf("%3s", a.Symbol())
		if c, _ := actionStyle(a); c != "" {
			return paint(c, s)
		}
		return s
	}
	var b strings.Builder
	if len(doc.Changes) == 0 && len(doc.Cleanups) == 0 {
		for _, w := range doc.Warnings {
			fmt.Fprintf(&b, "%s %s\n\n", paint(ansiBold+ansiYellow, "Warning:"), safeText(w))
		}
		b.WriteString(paint(ansiBold+ansiGreen, "No changes.") + " Desk matches the manifest.\n")
		return b.String()
	}

	if len(doc.Changes) > 0 {
		used := map[plan.Action]bool{}
		for _, c := range doc.Changes {
			used[planActionOf(c.Action)] = true
		}
		b.WriteString("Attachment actions are shown with these symbols:\n")
		for _, a := range planActions() {
			if used[a] {
				_, legend := actionStyle(a)
				fmt.Fprintf(&b, "%s %s\n", symbol(a), legend)
			}
		}
		b.WriteString("\ndesksync will perform the following actions:\n\n")
		for _, c := range doc.Changes {
			fmt.Fprintf(&b, "%s %s\n", symbol(planActionOf(c.Action)), safeText(c.Address))
			for _, r := range c.Reasons {
				fmt.Fprintf(&b, "      %s\n", safeText(r))
			}
			if c.Diff != "" {
				for _, line := range strings.Split(strings.TrimSuffix(c.Diff, "\n"), "\n") {
					line = safeText(line)
					if code := diffLineColor(line); code != "" {
						line = paint(code, line)
					}
					fmt.Fprintf(&b, "      %s\n", line)
				}
			}
		}
		b.WriteString("\n")
	}

	if len(doc.Cleanups) > 0 {
		b.WriteString("An earlier apply was interrupted; apply will first clean up:\n\n")
		for _, c := range doc.Cleanups {
			fmt.Fprintf(&b, "%s %s\n      %s\n", paint(ansiYellow, "  !"), safeText(c.Address), safeText(c.Description))
		}
		b.WriteString("\n")
	}
	for _, w := range doc.Warnings {
		fmt.Fprintf(&b, "%s %s\n\n", paint(ansiBold+ansiYellow, "Warning:"), safeText(w))
	}
	s := doc.Summary
	fmt.Fprintf(&b, "%s %d to create, %d to update, %d to replace, %d to delete.\n",
		paint(ansiBold, "Plan:"), s.Create, s.Update, s.Replace, s.Delete)
	return b.String()
}

// diffLineColor is the colour of one unified-diff line, as git colours it: file
// headers bold, hunk headers cyan, removals red, additions green, context plain.
func diffLineColor(line string) string {
	switch {
	case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "):
		return ansiBold
	case strings.HasPrefix(line, "@@"):
		return ansiCyan
	case strings.HasPrefix(line, "-"):
		return ansiRed
	case strings.HasPrefix(line, "+"):
		return ansiGreen
	}
	return ""
}

// planMarkdown renders doc for a pull-request comment (GitHub-flavoured markdown).
func planMarkdown(doc Document) string {
	var b strings.Builder
	if len(doc.Changes) == 0 && len(doc.Cleanups) == 0 {
		// Plain, so a script can look for a line starting "No changes." in any format.
		b.WriteString("No changes. Desk matches the manifest.\n")
		for _, w := range doc.Warnings {
			fmt.Fprintf(&b, "\n> **Warning:** %s\n", mdEscape(w))
		}
		return b.String()
	}
	s := doc.Summary
	fmt.Fprintf(&b, "**Plan:** %d to create, %d to update, %d to replace, %d to delete.\n",
		s.Create, s.Update, s.Replace, s.Delete)
	for _, w := range doc.Warnings {
		fmt.Fprintf(&b, "\n> **Warning:** %s\n", mdEscape(w))
	}
	if len(doc.Changes) > 0 {
		b.WriteString("\n| Action | Address | Details |\n| --- | --- | --- |\n")
		for _, c := range doc.Changes {
			details := make([]string, len(c.Reasons))
			for i, r := range c.Reasons {
				details[i] = mdEscape(r)
			}
			fmt.Fprintf(&b, "| %s %s | %s | %s |\n",
				mdCode(planActionOf(c.Action).Symbol(), true), c.Action, mdCode(c.Address, true), strings.Join(details, "<br>"))
		}
	}
	for _, c := range doc.Changes {
		if c.Diff == "" {
			continue
		}
		fence := strings.Repeat("`", max(3, longestRun(c.Diff, '`')+1))
		// Inside <summary> markdown is not read, so the address is HTML-escaped.
		fmt.Fprintf(&b, "\n<details><summary>Diff of <code>%s</code></summary>\n\n%sdiff\n%s\n%s\n\n</details>\n",
			html.EscapeString(safeText(c.Address)), fence, strings.TrimSuffix(c.Diff, "\n"), fence)
	}
	if len(doc.Cleanups) > 0 {
		b.WriteString("\nAn earlier apply was interrupted; apply will first clean up:\n\n")
		for _, c := range doc.Cleanups {
			fmt.Fprintf(&b, "- %s: %s\n", mdCode(c.Address, false), mdEscape(c.Description))
		}
	}
	return b.String()
}

// safeText quotes s when it holds a control character (other than a tab), so an address from an
// untrusted manifest cannot move the cursor, recolour or clear a reviewer's terminal.
func safeText(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' && r != '\t' {
			return strconv.Quote(s)
		}
	}
	return s
}

// mdEscape backslash-escapes what markdown would otherwise read as formatting, HTML,
// an entity or (in a table) a cell boundary.
func mdEscape(s string) string {
	s = safeText(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<|~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode writes s as an inline code span that no backtick inside it can end early
// (a fence one longer than its longest run of backticks). In a table cell a `|` must
// still be written `\|`, which GFM unescapes before reading the code span.
func mdCode(s string, inTable bool) string {
	s = safeText(s)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	return fence + s + fence
}

// longestRun is the length of the longest run of c in s.
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
