package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"

	"github.com/desksync/desksync/internal/quote"
)

// Known keys, in the order they are listed in hints. Functions rather than package
// variables, so nothing can change them at run time.
func topKeys() []string     { return []string{"version", "state", "defaults", "attachments"} }
func defaultKeys() []string { return []string{"disposition", "type", "mimeType"} }
func entryKeys() []string   { return []string{"path", "filename", "disposition", "type", "mimeType"} }

// Parse checks data as a desksync manifest named name (used in positions): YAML
// syntax, one document, known keys only, value types and formats. It touches no file,
// so it is safe to call on anything (it is the fuzz target); files, globs, symlinks and
// duplicates are Load's business. On failure the error is an ErrorList.
func Parse(name string, data []byte) (*Document, error) {
	doc, errs := parse(name, data)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return doc, nil
}

// parse returns the document with every item that passed its own checks, plus all
// errors, so Load can still check the good items on disk and report everything at once.
// doc is nil when the YAML could not be read at all.
func parse(name string, data []byte) (doc *Document, errs ErrorList) {
	p := &parser{name: name}
	defer func() {
		// yaml.v3 turns its own failures into errors, but a panic from a parser bug
		// must not take down a CI job that merely validates a pull request.
		if r := recover(); r != nil {
			doc = nil
			errs = ErrorList{{Pos: Position{File: name}, Msg: fmt.Sprintf("invalid YAML: parser failed: %v", r)}}
		}
	}()
	if len(data) > MaxManifestSize {
		return nil, ErrorList{{
			Pos:      Position{File: name},
			Msg:      fmt.Sprintf("manifest is %d bytes, more than the %d allowed", len(data), MaxManifestSize),
			HintText: "use globs instead of listing every file",
		}}
	}
	if e := checkBytes(name, data); e != nil {
		return nil, ErrorList{e}
	}
	root, e := p.decode(data)
	if e != nil {
		return nil, ErrorList{e}
	}
	doc = p.document(root)
	return doc, p.errs
}

type parser struct {
	name string
	errs ErrorList
}

func (p *parser) pos(n *yaml.Node) Position {
	return Position{File: p.name, Line: n.Line, Column: n.Column}
}

func (p *parser) errorf(n *yaml.Node, field, hint, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: p.pos(n), Field: field, Msg: fmt.Sprintf(format, args...), HintText: hint})
}

// checkBytes refuses what yaml.v3 would reject without a position: NUL and other
// control characters, and invalid UTF-8.
func checkBytes(name string, data []byte) *Error {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		var msg string
		switch {
		case r == utf8.RuneError && size == 1:
			msg = fmt.Sprintf("invalid UTF-8 byte 0x%02x", data[i])
		case quote.IsControl(r) && r != '\t' && r != '\n' && r != '\r':
			msg = fmt.Sprintf("control character %U is not allowed", r)
		}
		if msg != "" {
			return &Error{Pos: Position{File: name, Line: line, Column: col}, Msg: "invalid YAML: " + msg,
				HintText: "a manifest is UTF-8 text; remove the stray byte"}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return nil
}

// decode reads exactly one YAML document and returns its root node (nil for an empty
// file).
func (p *parser) decode(data []byte) (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, p.syntaxError(data, err)
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.syntaxError(data, err)
	default:
		// The position yaml.v3 gives a document node is that of its first content.
		return nil, &Error{Pos: p.pos(&second), Msg: "a manifest is one YAML document, found a second one",
			HintText: `remove the "---" separator and everything after it`}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError turns a yaml.v3 error into an *Error. yaml.v3 reports a line (and none
// when the problem is on the first line) but no column; see syntaxPosition.
func (p *parser) syntaxError(data []byte, err error) *Error {
	line, msg := yamlProblem(err)
	pos := Position{File: p.name, Line: max(line, 1)}
	hint := ""
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		// Reported with no position at all; the first use of the alias is the place.
		if i := bytes.Index(data, []byte("*"+strings.TrimSuffix(name, "' referenced"))); i >= 0 {
			pos.Line = 1 + bytes.Count(data[:i], []byte("\n"))
			pos.Column = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i])
		}
	}
	if pos.Column == 0 {
		if l, c := syntaxPosition(data, pos.Line, msg); c > 0 {
			pos.Line, pos.Column = l, c
		}
	}
	if parserProblem(msg) {
		if pos.Column == 0 {
			pos.Column = contentColumn(data, pos.Line)
		}
		hint = `YAML could not go on here: check the indentation of this line and the ones above it, and quote values that contain ": " or " #", or start with a quote or a bracket`
	}
	if bytes.Contains(data, []byte("\t")) && strings.Contains(msg, "cannot start any token") {
		hint = "indent YAML with spaces, not tabs"
	}
	if unquotedStar(data, pos.Line) {
		hint = `YAML reads a value that starts with "*" as an alias: quote the glob, e.g. path: "*.png"`
	}
	return &Error{Pos: pos, Msg: "invalid YAML: " + msg, HintText: hint}
}

// unquotedStar reports whether line holds a value that starts with a bare '*', such as
// an unquoted glob (path: *.png).
func unquotedStar(data []byte, line int) bool {
	start := lineStart(data, line)
	if start < 0 {
		return false
	}
	text, _, _ := bytes.Cut(data[start:], []byte("\n"))
	return bytes.Contains(text, []byte(": *")) || bytes.HasPrefix(bytes.TrimLeft(text, " "), []byte("- *"))
}

// yamlProblem splits a yaml.v3 syntax error into its line (0 when it gives none) and
// its message.
func yamlProblem(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil && n > 0 {
				line, msg = n, tail
				// yaml.v3 adds one to the 0-based line of scanner errors only; its
				// parser errors come out a line early.
				if parserProblem(msg) {
					line++
				}
			}
		}
	}
	return line, msg
}

// Bounds of syntaxPosition's search, so that a hostile manifest cannot make an error
// message expensive: at most this many re-parses, of at most this much YAML each. The
// worst case, an error at column 245 of a line ending 63 KB in, took 1.4 s.
const (
	maxPositionProbes = 256
	maxPositionPrefix = 64 << 10
)

// syntaxPosition finds where yaml.v3 stopped, which it knows but does not print: it
// names only a line, and for errors of its parser that is the line where the list or
// mapping it could not finish began, which can be lines above the mistake. The place
// is the first character such that the document cut right after it fails with the
// same message on the same line: the parser and its scanner read forward and stop at
// the first thing they cannot take, so a cut before it does not fail that way and a
// cut after it does. The search starts at the named line and may go on to later ones.
// It returns 0, 0 when no cut reproduces the error within its bounds.
func syntaxPosition(data []byte, line int, msg string) (atLine, col int) {
	start := lineStart(data, line)
	if start < 0 {
		return 0, 0
	}
	atLine, col = line, 0
	for i, probes := start, 0; i < len(data) && i < maxPositionPrefix && probes < maxPositionProbes; probes++ {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		col++
		if l, m, failed := syntaxProblem(data[:i]); failed && l == line && m == msg {
			return atLine, col
		}
		if r == '\n' {
			atLine, col = atLine+1, 0
		}
	}
	return 0, 0
}

// syntaxProblem decodes data as parser.decode does (a first document, and whether
// there is a second) and returns the syntax error's line and message, if it fails.
func syntaxProblem(data []byte) (line int, msg string, failed bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for range 2 {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, "", false
			}
			line, msg = yamlProblem(err)
			return line, msg, true
		}
	}
	return 0, "", false
}

// lineStart is the byte offset at which 1-based line begins, or -1 past the end.
func lineStart(data []byte, line int) int {
	off := 0
	for range line - 1 {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off
}

// contentColumn is the column of line's first character other than a space, or 1.
func contentColumn(data []byte, line int) int {
	start := lineStart(data, line)
	if start < 0 {
		return 1
	}
	col := 1
	for _, r := range string(data[start:]) {
		if r != ' ' {
			break
		}
		col++
	}
	return col
}

// parserProblem reports whether msg is one of the problems yaml.v3's parser (as
// opposed to its scanner) reports (parserc.go, v3.0.1).
func parserProblem(msg string) bool {
	switch msg {
	case "did not find expected <stream-start>", "did not find expected <document start>",
		"found undefined tag handle", "did not find expected node content",
		"did not find expected '-' indicator", "did not find expected key",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found duplicate %TAG directive":
		return true
	}
	return false
}

func (p *parser) document(root *yaml.Node) *Document {
	doc := &Document{Name: p.name}
	if root == nil {
		p.errs = append(p.errs, &Error{Pos: Position{File: p.name, Line: 1, Column: 1}, Field: "version",
			Msg: "required field is missing", HintText: "start the manifest with \"version: 1\""})
		return doc
	}
	fields, typos, ok := p.mapping(root, "", topKeys())
	if !ok {
		return doc
	}
	if n := fields["version"]; n == nil {
		if !typos["version"] {
			p.errorf(root, "version", `start the manifest with "version: 1"`, "required field is missing")
		}
	} else if p.scalar(n, "version") {
		v, err := strconv.Atoi(n.Value)
		switch {
		case n.ShortTag() != "!!int" || err != nil:
			p.errorf(n, "version", `write "version: 1"`, "must be the integer 1, not %s", describe(n))
		case v != 1:
			p.errorf(n, "version", "this build of desksync reads only version 1; upgrade desksync or fix the number", "unknown version %d", v)
		default:
			doc.Version = v
		}
	}
	if n := fields["state"]; n != nil {
		if v := p.str(n, "state"); v != nil {
			if msg, hint := checkStatePath(v.Text); msg != "" {
				p.errorf(n, "state", hint, "%s", msg)
			} else {
				doc.State = v
			}
		}
	}
	if n := fields["defaults"]; n != nil {
		if m, _, ok := p.mapping(n, "defaults", defaultKeys()); ok {
			doc.Defaults = p.fields(m, "defaults")
		}
	}
	n := fields["attachments"]
	switch {
	case n == nil && typos["attachments"]:
		// The unknown key's "did you mean" says it better than "missing" would.
	case n == nil:
		p.errorf(root, "attachments", `write "attachments: []" to manage no files at all`, "required field is missing")
	case n.Kind == yaml.AliasNode:
		p.alias(n, "attachments")
	case n.Kind != yaml.SequenceNode:
		p.errorf(n, "attachments", `write "attachments: []" to manage no files at all`, "must be a list, not %s", describe(n))
	default:
		for i, c := range n.Content {
			if it, ok := p.item(c, i); ok {
				doc.Attachments = append(doc.Attachments, it)
			}
		}
	}
	return doc
}

// item checks one attachments element; ok is false when it has an error.
func (p *parser) item(n *yaml.Node, i int) (Item, bool) {
	field := fmt.Sprintf("attachments[%d]", i)
	before := len(p.errs)
	it := Item{Index: i, Pos: p.pos(n)}
	m, typos, ok := p.mapping(n, field, entryKeys())
	if !ok {
		return it, false
	}
	it.Fields = p.fields(m, field)
	if pn := m["path"]; pn == nil {
		if !typos["path"] {
			p.errorf(n, field+".path", "name the file relative to the manifest's folder", "required field is missing")
		}
	} else if v := p.str(pn, field+".path"); v != nil {
		it.Path = *v
		it.Glob = isGlob(v.Text)
		if msg, hint := checkPath(v.Text); msg != "" {
			p.errorf(pn, field+".path", hint, "%s", msg)
		} else if it.Glob && it.Filename != nil {
			p.errorf(m["filename"], field+".filename", "list the files one by one to give each its own name",
				"cannot be set on a glob entry: every matching file would get the same name")
		}
	}
	return it, len(p.errs) == before
}

// fields reads and checks the optional settings shared by entries and defaults.
func (p *parser) fields(m map[string]*yaml.Node, field string) Fields {
	var f Fields
	if n := m["filename"]; n != nil {
		if v := p.str(n, field+".filename"); v != nil {
			if msg := checkFilename(v.Text); msg != "" {
				p.errorf(n, field+".filename", "", "%s", msg)
			} else {
				f.Filename = v
			}
		}
	}
	if n := m["disposition"]; n != nil {
		if v := p.str(n, field+".disposition"); v != nil {
			if v.Text != DispositionAttachment && v.Text != DispositionInline {
				p.errorf(n, field+".disposition", "", "%q is not %s or %s", v.Text, DispositionAttachment, DispositionInline)
			} else {
				f.Disposition = v
			}
		}
	}
	if n := m["type"]; n != nil {
		if v := p.str(n, field+".type"); v != nil {
			if !validType(v.Text) {
				p.errorf(n, field+".type", `Desk's usual type is "attachment"`,
					"%q is not a valid type: use lowercase letters, digits, '_' and '-', starting with a letter", v.Text)
			} else {
				f.Type = v
			}
		}
	}
	if n := m["mimeType"]; n != nil {
		if v := p.str(n, field+".mimeType"); v != nil {
			if mt, msg := checkMimeType(v.Text); msg != "" {
				p.errorf(n, field+".mimeType", "write a bare media type such as image/png, or leave mimeType out to detect it", "%s", msg)
			} else {
				v.Text = mt
				f.MimeType = v
			}
		}
	}
	return f
}

// mapping checks that n is a mapping with known, unique, scalar keys and returns its
// values by key, and the known keys that an unknown one probably meant (so that a typo
// of a required key is reported once, as a typo, not also as missing).
func (p *parser) mapping(n *yaml.Node, field string, known []string) (map[string]*yaml.Node, map[string]bool, bool) {
	if n.Kind == yaml.AliasNode {
		p.alias(n, field)
		return nil, nil, false
	}
	if n.Kind != yaml.MappingNode {
		subject, hint := "must", ""
		if field == "" {
			subject, hint = "the manifest must", "start with \"version: 1\" and \"attachments:\""
		} else if strings.HasPrefix(field, "attachments[") {
			hint = `write each attachment as "- path: FILE"`
		}
		p.errorf(n, field, hint, "%s be a mapping of keys to values, not %s", subject, describe(n))
		return nil, nil, false
	}
	typos := make(map[string]bool)
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, field, "", "keys must be plain names, not %s", describe(k))
			continue
		}
		kf := join(field, k.Value)
		if first := seen[k.Value]; first != nil {
			p.errorf(k, kf, "keep one of them", "set twice (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		if !contains(known, k.Value) {
			hint := "known fields: " + strings.Join(known, ", ")
			if s := suggest(k.Value, known); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
				if !containsKey(n, s) {
					typos[s] = true
				}
			}
			if field == "defaults" && (k.Value == "path" || k.Value == "filename") {
				hint = k.Value + " can only be set on each attachment"
			}
			p.errorf(k, kf, hint, "unknown field")
			continue
		}
		m[k.Value] = v
	}
	// Unknown and repeated keys are reported, but the known ones are still checked so
	// that one run shows every problem.
	return m, typos, true
}

// scalar checks that n is a scalar (not a list, mapping or alias).
func (p *parser) scalar(n *yaml.Node, field string) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return true
	case yaml.AliasNode:
		p.alias(n, field)
	default:
		p.errorf(n, field, "", "must be a single value, not %s", describe(n))
	}
	return false
}

// str reads a string field. Any scalar is taken as its text, as yaml.v3 does when
// decoding into a string (so `path: 2024` names the file "2024"); null is "".
func (p *parser) str(n *yaml.Node, field string) *Value {
	if !p.scalar(n, field) {
		return nil
	}
	if n.ShortTag() == "!!binary" {
		p.errorf(n, field, "", "must be text, not %s", describe(n))
		return nil
	}
	text := n.Value
	if n.ShortTag() == "!!null" {
		text = ""
	}
	return &Value{Text: text, Pos: p.pos(n)}
}

// alias refuses YAML aliases: the manifest is reviewed in pull requests, where a
// value should be read where it stands, and `defaults` covers shared settings.
func (p *parser) alias(n *yaml.Node, field string) {
	p.errorf(n, field, "write the value out, or put shared settings under defaults", "YAML aliases (*%s) are not supported", n.Value)
}

// describe names a node's kind for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!int":
		return fmt.Sprintf("the number %s", n.Value)
	case "!!float":
		return fmt.Sprintf("the number %s", n.Value)
	case "!!bool":
		return fmt.Sprintf("the boolean %s", n.Value)
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!binary":
		return "binary data"
	}
	return fmt.Sprintf("a %s value", n.ShortTag())
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// containsKey reports whether the mapping n has the key k.
func containsKey(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == k {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, k := range list {
		if k == s {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to key, if it is close enough to be a typo.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, k := range known {
		d := distance(lk, strings.ToLower(k))
		if d < bestD && d <= (len(k)+1)/2 {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, capped to keep a hostile
// 1 MiB key from costing a quadratic amount of work.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isGlob reports whether a path is a glob pattern.
func isGlob(p string) bool { return strings.ContainsAny(p, "*?[{") }

// checkPath checks a path (or glob) as written, before any file is looked at.
func checkPath(p string) (msg, hint string) {
	const rel = "paths are '/'-separated and relative to the manifest's folder"
	switch {
	case p == "":
		return "must not be empty", "name the file relative to the manifest's folder"
	case strings.ContainsRune(p, '\\'):
		return fmt.Sprintf("%q contains a backslash", p), rel
	case isAbs(p):
		return fmt.Sprintf("%q is an absolute path", p), rel + "; a manifest may only name files inside its folder"
	}
	if quote.HasControl(p) {
		return fmt.Sprintf("%q contains a control character", p), "rename the file"
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Sprintf("%q leaves the manifest's folder", p), "a manifest may only name files inside its folder; move the manifest up or the file in"
	}
	if c == "." {
		return fmt.Sprintf("%q names the manifest's folder, not a file", p), `to take every file use a glob such as "**/*"`
	}
	if dir := reservedDir(c); dir != "" {
		return fmt.Sprintf("%q is under %s/, which is never uploaded", p, dir), hintReserved
	}
	if isGlob(p) {
		if !doublestar.ValidatePattern(p) {
			return fmt.Sprintf("%q is not a valid glob", p), "check that every [ and { is closed"
		}
		if braceHasSlash(p) {
			return fmt.Sprintf("%q has a '/' inside {...}", p), "write one entry per folder instead"
		}
	}
	return "", ""
}

// checkStatePath checks the manifest's `state:`: an s3:// URL, or a path that stays
// inside the root. The manifest may come from an untrusted pull request; a pipeline
// that keeps the state elsewhere says so with --state or DESKSYNC_STATE.
func checkStatePath(p string) (msg, hint string) {
	const elsewhere = "state: must name a file inside the manifest's folder; to keep the state elsewhere, pass --state or set DESKSYNC_STATE in the pipeline"
	if IsStateURL(p) {
		if u, err := url.Parse(p); err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return fmt.Sprintf("%q is not an s3://BUCKET/KEY URL", p), "write it as s3://bucket/path/desksync.state.json"
		}
		return "", ""
	}
	if strings.Contains(p, "://") {
		return fmt.Sprintf("%q is a URL; only s3:// URLs are supported", p), "write a path inside the manifest's folder, or an s3://BUCKET/KEY URL"
	}
	if c := path.Clean(p); isAbs(p) || c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Sprintf("%q is outside the manifest's folder", p), elsewhere
	}
	if dir := reservedDir(path.Clean(p)); dir != "" {
		return fmt.Sprintf("%q is under %s/, where the state may not be kept", p, dir), elsewhere
	}
	if msg, hint := checkPath(p); msg != "" {
		return msg, hint
	}
	if isGlob(p) {
		return fmt.Sprintf("%q contains a glob character", p), "name one file"
	}
	return "", ""
}

// IsStateURL reports whether a state location is an s3:// URL rather than a path.
func IsStateURL(s string) bool { return strings.HasPrefix(s, "s3://") }

// isAbs reports an absolute path, also in the C:/ form of manifests shared with Windows users.
func isAbs(p string) bool {
	return strings.HasPrefix(p, "/") || (len(p) >= 2 && p[1] == ':' && isLetter(p[0]))
}

func isLetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// braceHasSlash reports a '/' inside {...}: globs are matched one path segment at a
// time (to apply the hidden-file rule per segment), which needs segments that do not
// span alternatives.
func braceHasSlash(p string) bool {
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case '/':
			if depth > 0 {
				return true
			}
		}
	}
	return false
}

// checkFilename checks a Desk file name: non-empty, one path segment, printable.
func checkFilename(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case s == "." || s == "..":
		return fmt.Sprintf("%q is not a file name", s)
	case strings.ContainsAny(s, `/\`):
		return fmt.Sprintf("%q must not contain '/' or '\\'", s)
	case len(s) > 255:
		return fmt.Sprintf("is %d bytes long, more than 255", len(s))
	case !utf8.ValidString(s):
		return fmt.Sprintf("%q is not valid UTF-8", s)
	}
	if quote.HasControl(s) {
		return fmt.Sprintf("%q contains a control character", s)
	}
	return ""
}

// validType checks ^[a-z][a-z0-9_-]*$.
func validType(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// checkMimeType checks that s is a bare type/subtype and returns it lowercased, as
// mime.ParseMediaType normalizes it.
func checkMimeType(s string) (string, string) {
	mt, params, err := mime.ParseMediaType(s)
	if err != nil || strings.Count(mt, "/") != 1 || strings.HasPrefix(mt, "/") || strings.HasSuffix(mt, "/") {
		return "", fmt.Sprintf("%q is not a media type such as image/png", s)
	}
	if len(params) > 0 || strings.Contains(s, ";") {
		return "", fmt.Sprintf("%q has parameters; Desk takes a bare media type", s)
	}
	return mt, ""
}

// sorted orders errors by position, keeping the order of errors at one place.
func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return l
}
