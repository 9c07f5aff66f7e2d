package view

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/plan"
)

// FormatVersion is the format_version of the JSON plan document. It changes only when
// a field changes meaning or goes away; new fields may be added within a version.
const FormatVersion = "1"

// Document is the JSON plan document of docs/plans.md, and the single source the text and
// markdown renderers read, so the three formats cannot disagree. Changes are the
// plan's own: before/after are null where the action has none (before for a create,
// after for a delete), and a move names its "previous_address".
type Document struct {
	FormatVersion string `json:"format_version"`
	// State is where the state was read from (PlanOptions.State): a reviewer sees which
	// state a plan compared against, since the manifest's `state:` can move it.
	State string `json:"state,omitempty"`
	// Scope is the --target/--exclude a partial plan is limited to; omitted otherwise.
	Scope plan.Scope `json:"scope,omitzero"`
	// Replace lists the addresses replaced with --replace whatever the hashes say;
	// omitted when there are none.
	Replace []string `json:"replace,omitempty"`
	// Refreshed says Desk was read before planning; false means the plan compares
	// the manifest with the state only.
	Refreshed bool          `json:"refreshed"`
	Changes   []plan.Change `json:"changes"`
	// Summary counts Changes by action, and Cleanups.
	Summary  plan.Summary `json:"summary"`
	Cleanups []DocCleanup `json:"cleanups,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
	// Freshness is what "desksync show" found comparing a saved plan with the work
	// tree; omitted by plan, whose plans are fresh by construction.
	Freshness *Freshness `json:"freshness,omitempty"`
}

// Freshness says whether a saved plan can still be applied, for the person who
// approves it: Checked is false when there was no work tree (or state) to compare
// with, and Reason then says what was missing; Stale says apply would refuse the plan.
type Freshness struct {
	Checked bool   `json:"checked"`
	Stale   bool   `json:"stale"`
	Reason  string `json:"reason,omitempty"`
}

// sentence is the freshness as one line of prose.
func (f *Freshness) sentence() string {
	switch {
	case !f.Checked:
		return "Not checked against the work tree: " + f.Reason + "."
	case f.Stale:
		return "This plan is stale: " + f.Reason + ". desksync apply will refuse it; make the plan again."
	}
	return "This plan is current: the manifest, the files and the state are the ones it was made from."
}

// CleanupsHeading introduces a plan's cleanups; each one's description says where
// it came from, since an interrupted apply is not the only source.
const CleanupsHeading = "Leftovers recorded in the state, which apply settles before any change"

// DocCleanup is leftover work from an interrupted apply, done before any change.
type DocCleanup struct {
	plan.Cleanup
	Description string `json:"description"`
}

// PlanDocument builds the JSON document for p. Slices are never nil, so "changes"
// and "reasons" are [] rather than null for scripts that iterate them.
func PlanDocument(p *plan.Plan) Document {
	d := Document{FormatVersion: FormatVersion, Scope: p.Scope, Replace: p.Replace, Refreshed: p.Refreshed, Changes: make([]plan.Change, 0, len(p.Changes)), Summary: p.Summary()}
	for _, c := range p.Changes {
		if c.Action == plan.NoOp {
			continue
		}
		if c.Reasons == nil {
			c.Reasons = []string{}
		}
		d.Changes = append(d.Changes, c)
	}
	for _, c := range p.Cleanups {
		d.Cleanups = append(d.Cleanups, DocCleanup{Cleanup: c, Description: c.Description()})
	}
	d.Warnings = p.Warnings
	return d
}

// PlanOptions choose how a plan is rendered.
type PlanOptions struct {
	// Color adds ANSI colours to text output. The caller decides once (a terminal,
	// no NO_COLOR); renderers never look at the environment themselves.
	Color bool
	// MarkdownLimit is the most characters markdown output may take; 0 means
	// MarkdownCommentLimit less MarkdownHeadroom.
	MarkdownLimit int
	// State is where the state was read from, as the plan's header names it: a path
	// relative to the working directory (absolute outside it) or an s3:// URL, never
	// with credentials. Empty leaves it out.
	State string
	// Freshness, when set, is rendered after the plan (text) or under its summary
	// (markdown, so that a cut comment keeps it).
	Freshness *Freshness
}

// MarkdownCommentLimit is the longest comment GitHub accepts, in characters.
const MarkdownCommentLimit = 65536

// MarkdownHeadroom is what markdown output leaves of a comment by default for the
// pipeline's own lines around it (the marker that finds the comment again, a heading
// naming the commit), so that the recipes never need to cut desksync's output.
const MarkdownHeadroom = 1024

// PlanFormats are the values RenderPlan accepts, for the --format flag's enum.
const PlanFormats = "text,json,markdown"

// RenderPlan writes p to w as "text" (the default when format is empty), "json" or
// "markdown". Text and markdown are rendered from PlanDocument, like JSON.
func RenderPlan(w io.Writer, p *plan.Plan, format string, opts PlanOptions) error {
	doc := PlanDocument(p)
	doc.State = opts.State
	doc.Freshness = opts.Freshness
	switch format {
	case "", "text":
		bw := bufio.NewWriterSize(w, 64<<10)
		writePlanText(bw, doc, opts.Color)
		if doc.Freshness != nil {
			bw.WriteString("\n" + quote.Line(doc.Freshness.sentence()) + "\n")
		}
		return bw.Flush()
	case "json":
		return writePlanJSON(w, doc)
	case "markdown":
		limit := opts.MarkdownLimit
		if limit <= 0 {
			limit = MarkdownCommentLimit - MarkdownHeadroom
		}
		return writeAll(w, planMarkdown(doc, limit))
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
// escaping, so reasons read `"a.png" -> "b.png"`, not `-\u003e`. The changes are
// encoded one at a time as they are written, so a large plan is never a whole
// document in memory (nor indented in a second copy); the bytes are those of
// encoding the document at once.
func writePlanJSON(w io.Writer, doc Document) error {
	changes := doc.Changes
	doc.Changes = []plan.Change{}
	var frame bytes.Buffer
	enc := json.NewEncoder(&frame)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	// The empty array appears once, as the top-level member: no string value can
	// hold its unescaped quotes.
	head, tail, ok := bytes.Cut(frame.Bytes(), []byte("\n  \"changes\": []"))
	if !ok {
		return errors.New("view: the plan document has no changes member")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(quote.JSON(head))
	bw.WriteString("\n  \"changes\": [")
	var one, safe []byte
	for i, c := range changes {
		var err error
		if one, err = appendChange(one[:0], c); err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		safe = quote.AppendJSON(safe[:0], one)
		bw.Write(safe)
	}
	if len(changes) > 0 {
		bw.WriteString("\n  ]")
	} else {
		bw.WriteString("]")
	}
	bw.Write(quote.JSON(tail))
	return bw.Flush()
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
	return []plan.Action{plan.Create, plan.Update, plan.Replace, plan.Delete, plan.Move}
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
	case plan.Move:
		return ansiCyan, "move (the Desk file and its ID are kept)"
	}
	return "", ""
}

// deskFileNote says what happens to the Desk file a change acts on, so a reviewer
// sees the ID a record points at (an edited state could point it at any file).
func deskFileNote(c plan.Change) string {
	if c.Before == nil {
		return ""
	}
	switch c.Action {
	case plan.Update:
		return fmt.Sprintf("Desk file %d is updated in place", c.Before.ID)
	case plan.Replace:
		return fmt.Sprintf("Desk file %d is deleted after the new upload", c.Before.ID)
	case plan.Delete:
		return fmt.Sprintf("Desk file %d is deleted", c.Before.ID)
	case plan.Move:
		return fmt.Sprintf("Desk file %d is kept", c.Before.ID)
	}
	return ""
}

// NoChanges is what desksync says of a plan without changes: "No changes." first
// (docs/plans.md), then what was compared, since an offline plan has not seen Desk.
func NoChanges(p *plan.Plan) string { return "No changes. " + noChanges(p.Refreshed) }

func noChanges(refreshed bool) string {
	if refreshed {
		return "Desk matches the manifest."
	}
	return "The state matches the manifest. Desk was not read; --refresh reads it."
}

// partialNote is the header of a plan limited by --target/--exclude, with the flags
// written by code (a code span in markdown).
func partialNote(doc Document, code func(string) string) string {
	return "This plan is partial: it covers only the addresses selected by " + code(doc.Scope.String()) + "; nothing else is planned or changed."
}

// summaryCounts writes the summary's counts: the first four always, those added
// later only when there are any.
func summaryCounts(s plan.Summary) string {
	out := fmt.Sprintf("%d to create, %d to update, %d to replace, %d to delete", s.Create, s.Update, s.Replace, s.Delete)
	if s.Move > 0 {
		out += fmt.Sprintf(", %d to move", s.Move)
	}
	if s.Cleanup > 0 {
		out += fmt.Sprintf(", %d to clean up", s.Cleanup)
	}
	return out + "."
}

// planText renders doc like Terraform's human plan.
func writePlanText(b *bufio.Writer, doc Document, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var symbols [plan.Move + 1]string // by action, worked out once, not once a change
	symbol := func(a plan.Action) string {
		if int(a) < len(symbols) && symbols[a] != "" {
			return symbols[a]
		}
		s := fmt.Sprintf("%3s", a.Symbol())
		if c, _ := actionStyle(a); c != "" {
			s = paint(c, s)
		}
		if int(a) < len(symbols) {
			symbols[a] = s
		}
		return s
	}
	if doc.Scope.Partial() {
		fmt.Fprintf(b, "%s %s\n\n", paint(ansiBold+ansiYellow, "Note:"), partialNote(doc, quote.Text))
	}
	if len(doc.Changes) == 0 && len(doc.Cleanups) == 0 {
		for _, w := range doc.Warnings {
			fmt.Fprintf(b, "%s %s\n\n", paint(ansiBold+ansiYellow, "Warning:"), quote.Line(w))
		}
		b.WriteString(paint(ansiBold+ansiGreen, "No changes.") + " " + noChanges(doc.Refreshed) + "\n")
		// After "No changes.", which stays the first sentence (docs/plans.md).
		if doc.State != "" {
			fmt.Fprintf(b, "State: %s\n", quote.Text(doc.State))
		}
		return
	}
	if doc.State != "" {
		fmt.Fprintf(b, "State: %s\n\n", quote.Text(doc.State))
	}

	if len(doc.Changes) > 0 {
		used := map[plan.Action]bool{}
		for _, c := range doc.Changes {
			used[c.Action] = true
		}
		b.WriteString("Attachment actions are shown with these symbols:\n")
		for _, a := range planActions() {
			if used[a] {
				_, legend := actionStyle(a)
				fmt.Fprintf(b, "%s %s\n", symbol(a), legend)
			}
		}
		b.WriteString("\ndesksync will perform the following actions:\n\n")
		// Written a piece at a time: a plan of many files would otherwise build each
		// line as a string first.
		for _, c := range doc.Changes {
			writeStrings(b, symbol(c.Action), " ", quote.Text(c.Address), "\n")
			for _, r := range c.Reasons {
				writeStrings(b, "      ", quote.Line(r), "\n")
			}
			if c.Action == plan.Create && c.After != nil {
				// Quoted as the reasons quote filenames (%q). quote.Line of each part is
				// quote.Line of the whole line: it starts with "uploaded", and no "##"
				// can span a closing quote.
				writeStrings(b, "      uploaded as ", quote.Line(strconv.Quote(c.After.Filename)), ", ", quote.Line(c.After.Disposition), "\n")
			}
			if note := deskFileNote(c); note != "" {
				fmt.Fprintf(b, "      %s\n", note)
			}
			if c.Diff != "" {
				for _, line := range strings.Split(strings.TrimSuffix(c.Diff, "\n"), "\n") {
					line = quote.Line(line)
					if code := diffLineColor(line); code != "" {
						line = paint(code, line)
					}
					fmt.Fprintf(b, "      %s\n", line)
				}
			}
		}
		b.WriteString("\n")
	}

	if len(doc.Cleanups) > 0 {
		b.WriteString(CleanupsHeading + ":\n\n")
		for _, c := range doc.Cleanups {
			fmt.Fprintf(b, "%s %s\n      %s\n", paint(ansiYellow, "  !"), quote.Text(c.Address), quote.Line(c.Description))
		}
		b.WriteString("\n")
	}
	for _, w := range doc.Warnings {
		fmt.Fprintf(b, "%s %s\n\n", paint(ansiBold+ansiYellow, "Warning:"), quote.Line(w))
	}
	fmt.Fprintf(b, "%s %s\n", paint(ansiBold, "Plan:"), summaryCounts(doc.Summary))
}

func writeStrings(b *bufio.Writer, parts ...string) {
	for _, s := range parts {
		b.WriteString(s)
	}
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

// planMarkdown renders doc for a pull-request comment (GitHub-flavoured markdown) of
// at most limit bytes (a byte is never less than a character): the summary always,
// then cleanups, rows and diffs while they fit, then how many were left out.
func planMarkdown(doc Document, limit int) string {
	var b strings.Builder
	if doc.Scope.Partial() {
		fmt.Fprintf(&b, "> **Note:** %s\n\n", partialNote(doc, func(s string) string { return quote.Code(s, false) }))
	}
	if len(doc.Changes) == 0 && len(doc.Cleanups) == 0 {
		// Plain, so a script can look for a line starting "No changes." in any format.
		b.WriteString("No changes. " + noChanges(doc.Refreshed) + "\n")
		if doc.State != "" {
			fmt.Fprintf(&b, "\nState: %s\n", quote.Code(doc.State, false))
		}
		if doc.Freshness != nil {
			fmt.Fprintf(&b, "\n%s\n", freshnessMarkdown(doc.Freshness))
		}
		for _, w := range doc.Warnings {
			fmt.Fprintf(&b, "\n> **Warning:** %s\n", quote.Code(w, false))
		}
		return b.String()
	}
	fmt.Fprintf(&b, "**Plan:** %s\n", summaryCounts(doc.Summary))
	if doc.State != "" {
		fmt.Fprintf(&b, "\nState: %s\n", quote.Code(doc.State, false))
	}
	if doc.Freshness != nil {
		fmt.Fprintf(&b, "\n%s\n", freshnessMarkdown(doc.Freshness))
	}
	for _, w := range doc.Warnings {
		fmt.Fprintf(&b, "\n> **Warning:** %s\n", quote.Code(w, false))
	}

	// Everything below is optional: each piece goes in only while the note about
	// what was left out still fits after it. Headings are not counted as entries.
	// Pieces are made as they are needed: a comment shows a few hundred rows of a
	// large plan, and the rest are only counted.
	type part struct {
		text  string
		entry bool
	}
	parts := func(yield func(part) bool) {
		if len(doc.Cleanups) > 0 {
			if !yield(part{"\n" + CleanupsHeading + ":\n\n", false}) {
				return
			}
			for _, c := range doc.Cleanups {
				if !yield(part{fmt.Sprintf("- %s: %s\n", quote.Code(c.Address, false), quote.Code(c.Description, false)), true}) {
					return
				}
			}
		}
		if len(doc.Changes) > 0 {
			if !yield(part{"\n| Action | Address | Details |\n| --- | --- | --- |\n", false}) {
				return
			}
			for _, c := range doc.Changes {
				if !yield(part{markdownRow(c), true}) {
					return
				}
			}
		}
		for _, c := range doc.Changes {
			if c.Diff == "" {
				continue
			}
			fence := quote.Fence(c.Diff)
			// Inside <summary> markdown is not read, so the address is HTML in a <code> element.
			if !yield(part{fmt.Sprintf("\n<details><summary>Diff of %s</summary>\n\n%sdiff\n%s\n%s\n\n</details>\n",
				quote.HTMLCode(c.Address), fence, strings.TrimSuffix(c.Diff, "\n"), fence), true}) {
				return
			}
		}
	}
	entries := len(doc.Cleanups) + len(doc.Changes)
	for _, c := range doc.Changes {
		if c.Diff != "" {
			entries++
		}
	}
	size, fits := b.Len(), true
	for p := range parts {
		if size += len(p.text); size > limit {
			fits = false
			break
		}
	}
	if fits {
		for p := range parts {
			b.WriteString(p.text)
		}
		return b.String()
	}
	// The worst case of the note's numbers, so that it always fits once reserved.
	reserve := len(omittedNote(entries, entries))
	shown := 0
	for p := range parts {
		if b.Len()+len(p.text)+reserve > limit {
			break
		}
		b.WriteString(p.text)
		if p.entry {
			shown++
		}
	}
	b.WriteString(omittedNote(entries-shown, entries))
	return b.String()
}

// freshnessMarkdown is the freshness as a quote, its reason (which names addresses
// from the manifest) in a code span; in bold when the plan is stale.
func freshnessMarkdown(f *Freshness) string {
	switch {
	case !f.Checked:
		return "> Not checked against the work tree: " + quote.Code(f.Reason, false) + "."
	case f.Stale:
		return "> **Stale:** this plan is stale: " + quote.Code(f.Reason, false) + ". desksync apply will refuse it; make the plan again."
	}
	return "> " + f.sentence()
}

// omittedNote says how much of a markdown plan did not fit and where the rest is.
func omittedNote(left, total int) string {
	return fmt.Sprintf("\n_%d of %d entries (changes, cleanups, diffs) are not shown: a GitHub comment holds at most %d characters. "+
		"The full plan is in the job log (`desksync plan`) and in `desksync plan --format json`._\n",
		left, total, MarkdownCommentLimit)
}

// markdownRow is one change as a table row.
func markdownRow(c plan.Change) string {
	details := make([]string, 0, len(c.Reasons)+2)
	for _, r := range c.Reasons {
		details = append(details, quote.Code(r, true))
	}
	if c.Action == plan.Create && c.After != nil {
		details = append(details, "uploaded as "+quote.Code(c.After.Filename, true)+", "+quote.Code(c.After.Disposition, true))
	}
	if note := deskFileNote(c); note != "" {
		details = append(details, note)
	}
	return fmt.Sprintf("| %s %s | %s | %s |\n",
		quote.Code(c.Action.Symbol(), true), c.Action, quote.Code(c.Address, true), strings.Join(details, "<br>"))
}
