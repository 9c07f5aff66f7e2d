package manifest

import (
	"fmt"
	"strings"
)

// DefaultStateFile is the state path used when the manifest names none.
const DefaultStateFile = "desksync.state.json"

// DefaultMaxEntries is the number of addresses a manifest may produce when
// Options.MaxEntries is zero.
const DefaultMaxEntries = 10000

// MaxManifestSize caps the manifest file in bytes. yaml.v3 keeps aliases as nodes
// (no expansion into a yaml.Node), but its scanner and parser still do work in
// proportion to the input, so the cap bounds what a hostile pull request can cost.
const MaxManifestSize = 1 << 20

// Built-in values used when neither an entry nor `defaults` sets a field.
const (
	DispositionAttachment = "attachment"
	DispositionInline     = "attachment-inline"
	DefaultType           = "attachment"
)

// Options tunes Load.
type Options struct {
	// MaxEntries caps the number of addresses (plain entries plus glob matches);
	// 0 means DefaultMaxEntries. Expansion stops as soon as the cap is passed.
	MaxEntries int
	// State is the state location the pipeline chose (--state, DESKSYNC_STATE), a path
	// relative to the working folder or an s3:// URL; it overrides `state:` and may lie
	// anywhere. Globs skip the state in use, so Load needs to know it.
	State string
	// Cache, when set, spares opening a file whose stamp it knows (see HeadCache);
	// nil opens and reads the head of every file.
	Cache HeadCache
	// Version is the running desksync's version, checked against the manifest's
	// `desksync:` constraint before anything else; "" checks nothing.
	Version string
	// StateKnown, when set, is called once the manifest's folder and the state in use
	// (Manifest.Root and StatePath) are known, before the files are looked at, so that
	// a caller can read the state meanwhile. A Load that fails earlier never calls it.
	StateKnown func(root, statePath string)
}

// Manifest is a loaded, validated desksync.yaml with every glob expanded.
type Manifest struct {
	// Path is the manifest file as the user named it; error positions use it.
	Path string
	// Root is the absolute, symlink-free folder holding the manifest; every address is
	// relative to it.
	Root string
	// StatePath is the state in use: Options.State, else the manifest's `state:`, else
	// the default beside the manifest; an absolute path, or an s3:// URL as written.
	StatePath string
	// Entries has one entry per address, sorted by address.
	Entries []Entry
	// dir is Root held open for Open; nil in a Manifest built by hand.
	dir *rootDir
	// Warnings are problems that do not stop desksync but that a reviewer should see:
	// addresses that differ only by case or Unicode normalisation, files a glob misses
	// only by case.
	Warnings ErrorList
}

// Entry is one attachment the manifest asks for.
type Entry struct {
	// Address is the cleaned '/'-separated path relative to Root, e.g. images/logo.png.
	Address string
	// Resolved is Address with every symlink resolved, still relative to Root; files
	// are opened through it (see Manifest.Open) so a link can never lead outside Root.
	Resolved    string
	Filename    string
	Disposition string
	Type        string
	MimeType    string
	// Pos is where the entry (or the glob that produced it) stands in the manifest.
	Pos Position
	// Content is what Load learnt of the file's bytes through its HeadCache, for the
	// hash pass; its Known is false when Load learnt nothing.
	Content Content
}

// Content is the size and BLAKE3 of a file's bytes, as Load found them.
type Content struct {
	Known  bool
	Size   int64
	Digest [32]byte
}

// Position is a place in the manifest file. Line and Column are 1-based; 0 means
// unknown (a file that cannot be read has neither, and yaml.v3 reports only a line
// for syntax errors).
type Position struct {
	File   string
	Line   int
	Column int
}

// String formats p as FILE:LINE:COL, leaving out what is unknown.
func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
}

// Document is a manifest as written: syntax and schema checked by Parse, nothing on
// disk looked at yet (no globs expanded, no files opened).
type Document struct {
	// Name is the manifest's file name as the user gave it.
	Name    string
	Version int
	// Desksync is the `desksync:` value, the releases of desksync this manifest needs,
	// nil when the manifest leaves it out; Constraint is it parsed.
	Desksync   *Value
	Constraint Constraint
	// State is the `state:` value, nil when the manifest leaves it out.
	State *Value
	// Defaults fill the fields an entry leaves out; Filename is never set here.
	Defaults Fields
	// Attachments are the entries in file order.
	Attachments []Item
}

// Value is one scalar of the manifest with where it was written.
type Value struct {
	Text string
	Pos  Position
}

// Fields are the optional per-attachment settings; nil means "not set here", so that
// a plain entry, a glob and `defaults` can be layered field by field.
type Fields struct {
	Filename    *Value
	Disposition *Value
	Type        *Value
	MimeType    *Value
}

// Item is one element of `attachments` as written.
type Item struct {
	// Index is the item's place in the list, as used in error fields (attachments[2]).
	Index int
	// Pos is where the item's mapping starts.
	Pos Position
	// Path is the `path` value as written (not cleaned).
	Path Value
	// Glob reports whether Path contains any of the glob characters *?[{.
	Glob bool
	Fields
}

// Error is one problem with a manifest: where it is, which field, what is wrong and,
// when there is one, how to fix it.
type Error struct {
	Pos Position
	// Field is the dotted path of the offending field, e.g. attachments[2].disposition;
	// empty for problems that belong to no field (YAML syntax, unreadable file).
	Field string
	Msg   string
	// HintText is the remedy, shown by main on its own line; may be empty.
	HintText string
}

// Error formats e as FILE:LINE:COL: FIELD: MSG.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Hint returns the remedy for e, or "".
func (e *Error) Hint() string { return e.HintText }

// ErrorList is every problem Load or Parse found, in file order.
type ErrorList []*Error

// Error joins the errors one per line.
func (l ErrorList) Error() string {
	shown := l[:min(len(l), MaxErrorsShown)]
	s := make([]string, len(shown), len(shown)+1)
	for i, e := range shown {
		s[i] = e.Error()
	}
	if more := len(l) - len(shown); more > 0 {
		s = append(s, fmt.Sprintf("… and %d more errors in %s", more, l[0].Pos.File))
	}
	return strings.Join(s, "\n")
}

// MaxErrorsShown is how many errors ErrorList.Error lists: a hostile 1 MiB manifest can
// hold tens of thousands, which would bury the first (usually the cause) in a CI log.
// All of them stay in the list for callers.
const MaxErrorsShown = 50

// Hint returns the hint of the first error that has one, so main can print a single
// remedy line under the list.
func (l ErrorList) Hint() string {
	for _, e := range l {
		if e.HintText != "" {
			return e.HintText
		}
	}
	return ""
}

// Unwrap exposes the individual errors to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
