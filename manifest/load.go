package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"github.com/zeebo/blake3"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Load reads the manifest at path (as the user named it; errors show it that way),
// checks it with Parse, then looks at the files: expands globs, resolves symlinks,
// enforces containment in the manifest's folder, checks every file is a readable
// regular file, fills in defaults and mime types, and refuses duplicate addresses.
// Every problem found is returned at once as an ErrorList, in file order.
func Load(path string, opts Options) (*Manifest, error) {
	limit := opts.MaxEntries
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	data, rerr := readManifest(path)
	if rerr != nil {
		return nil, ErrorList{rerr}
	}
	doc, errs := parse(path, data)
	if doc == nil {
		return nil, errs.sorted()
	}
	var warnings ErrorList
	if doc.Desksync != nil && opts.Version != "" {
		refused, warning := checkConstraint(doc, opts.Version)
		if refused != nil {
			// Alone: a manifest written for another release may use fields this one
			// does not know, and those errors would only hide the real one.
			return nil, ErrorList{refused}
		}
		if warning != nil {
			warnings = append(warnings, warning)
		}
	}
	root, err := RootOf(path)
	if err != nil {
		return nil, append(errs, &Error{Pos: Position{File: path}, Msg: "cannot resolve the manifest's folder: " + reason(err)}).sorted()
	}
	l := &loader{
		dir:       openRootDir(root),
		root:      root,
		limit:     limit,
		dirBudget: 10 * limit,
		errs:      errs,
		cache:     opts.Cache,
	}
	m := &Manifest{Path: path, Root: root, StatePath: filepath.Join(root, DefaultStateFile), dir: l.dir}
	switch {
	case opts.State != "" && IsStateURL(opts.State):
		m.StatePath = opts.State
	case opts.State != "":
		m.StatePath = resolvedAbs(opts.State)
	case doc.State != nil && IsStateURL(doc.State.Text):
		m.StatePath = doc.State.Text
	case doc.State != nil:
		m.StatePath = l.resolveState(doc.State)
	}
	l.own = newOwnFiles(path, m.StatePath)
	if opts.StateKnown != nil {
		opts.StateKnown(m.Root, m.StatePath)
	}
	m.Entries = l.entries(doc)
	if len(l.errs) > 0 {
		return nil, l.errs.sorted()
	}
	m.Warnings = append(append(warnings, l.warnings...), collisions(m.Entries)...).sorted()
	return m, nil
}

// Open opens the file of e for reading. It goes through the symlink-free Resolved
// path without following any symlink (os.OpenInRoot where openat2 is missing), so a
// link swapped in after Load cannot lead outside Root, and it refuses anything but a
// regular file. Plan and apply open files only this way.
func (m *Manifest) Open(e Entry) (*os.File, error) {
	f, _, err := m.OpenStat(e)
	return f, err
}

// OpenStat is Open that also returns the file's stat data, taken from the open file.
func (m *Manifest) OpenStat(e Entry) (*os.File, fs.FileInfo, error) {
	fail := func(err error) (*os.File, fs.FileInfo, error) {
		return nil, nil, &Error{Pos: e.Pos, Msg: fmt.Sprintf("cannot open %q: %s", e.Address, openReason(err)),
			HintText: "the file changed since the manifest was loaded; run the command again"}
	}
	f, err := m.dir.open(m.Root, filepath.FromSlash(e.Resolved))
	if err != nil {
		return fail(err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return fail(err)
	}
	return f, fi, nil
}

func readManifest(name string) ([]byte, *Error) {
	pos := Position{File: name}
	f, err := os.Open(name)
	if err != nil {
		e := &Error{Pos: pos, Msg: "cannot read the manifest: " + reason(err)}
		if errors.Is(err, fs.ErrNotExist) {
			e.HintText = "create desksync.yaml, or name the manifest with -m/--manifest or DESKSYNC_MANIFEST"
		}
		return nil, e
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &Error{Pos: pos, Msg: "cannot read the manifest: is a folder", HintText: "name the manifest file itself, e.g. desksync.yaml"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, &Error{Pos: pos, Msg: "cannot read the manifest: " + reason(err)}
	}
	return data, nil
}

// RootOf returns the manifest's folder, absolute and free of symlinks, so that
// containment can be checked by comparing resolved paths: Manifest.Root.
func RootOf(manifest string) (string, error) {
	abs, err := filepath.Abs(filepath.Dir(manifest))
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// reason is the system's reason for err, without the path that os errors repeat.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// openReason is reason for opening a path that was symlink-free when Load resolved it:
// a symlink met on the way now means one was swapped in.
func openReason(err error) string {
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EXDEV) || strings.Contains(err.Error(), "path escapes from parent") {
		return "it is now a symlink, or one is on its way"
	}
	return reason(err)
}

type loader struct {
	dir       *rootDir
	root      string
	limit     int // addresses allowed
	count     int // addresses produced so far
	dirBudget int // folders a glob may still read
	aborted   bool
	own       ownFiles
	cache     HeadCache // nil: every file's head is read
	lookup    bool      // the cache may know a file: stat it before reading
	errs      ErrorList
	// caseMisses are files a glob missed only by case, by address, for warnings.
	caseMisses map[string]*Item
	warnings   ErrorList
}

// match is one address an item produced.
type match struct {
	address  string
	resolved string
	item     *Item
}

func (l *loader) fail(it *Item, hint, format string, args ...any) {
	l.errs = append(l.errs, &Error{Pos: it.Path.Pos, Field: fmt.Sprintf("attachments[%d].path", it.Index),
		Msg: fmt.Sprintf(format, args...), HintText: hint})
}

const (
	hintContain = "a manifest may only name files inside its own folder, so that a pull request cannot make a pipeline upload files from the machine it runs on; copy the file in instead of linking to it"
	hintMissing = "check the spelling; paths are relative to the folder that holds the manifest"
)

func (l *loader) entries(doc *Document) []Entry {
	plain := make(map[string]match)
	var globOrder []match // every glob's matches, each address once, in the order found
	// globbed indexes globOrder by address. It is built only once something asks: a
	// manifest of one glob, the usual one, needs no index of its matches.
	var globbed map[string]match
	index := func() map[string]match {
		if globbed == nil {
			globbed = make(map[string]match, len(globOrder))
			for _, mt := range globOrder {
				globbed[mt.address] = mt
			}
		}
		return globbed
	}
	globs := 0
	for i := range doc.Attachments {
		it := &doc.Attachments[i]
		if l.aborted {
			break
		}
		if !it.Glob {
			addr := path.Clean(it.Path.Text)
			resolved, ok := l.resolveFile(it, addr)
			if !ok {
				continue
			}
			if prev, dup := plain[addr]; dup {
				l.fail(it, "remove one of the two entries", "%q is already listed by attachments[%d] at line %d",
					addr, prev.item.Index, prev.item.Pos.Line)
				continue
			}
			if !l.produced(it) {
				break
			}
			plain[addr] = match{address: addr, resolved: resolved, item: it}
			continue
		}
		before := len(l.errs)
		found := l.expand(it)
		if l.aborted {
			break
		}
		if len(found) == 0 && len(l.errs) == before {
			l.fail(it, "check the pattern; * and ** do not match names that start with '.', and .git and .desksync are never searched",
				"glob %q matches no file", it.Path.Text)
			continue
		}
		globs++
		if globs == 1 {
			globOrder = found // nothing to overlap with yet
			continue
		}
		index()
		globOrder = slices.Grow(globOrder, len(found))
		// Report overlapping globs once per pair of entries, not once per file.
		overlaps := make(map[*Item][]string)
		var order []*Item
		for _, mt := range found {
			if prev, dup := globbed[mt.address]; dup {
				if overlaps[prev.item] == nil {
					order = append(order, prev.item)
				}
				overlaps[prev.item] = append(overlaps[prev.item], mt.address)
				continue
			}
			globbed[mt.address] = mt
			globOrder = append(globOrder, mt)
		}
		for _, prev := range order {
			addrs := overlaps[prev]
			what := fmt.Sprintf("%q", addrs[0])
			if len(addrs) > 1 {
				what = fmt.Sprintf("%d files (%q, ...)", len(addrs), addrs[0])
			}
			l.fail(it, "make the globs disjoint, or list the shared files as plain entries",
				"glob also matches %s, already matched by attachments[%d] at line %d", what, prev.Index, prev.Pos.Line)
		}
	}
	if l.aborted {
		return nil
	}
	if len(l.caseMisses) > 0 {
		l.warnCaseMisses(plain, index())
	}

	// Every address once, a plain entry in place of a glob's match, sorted; one glob's
	// matches come sorted already.
	all := globOrder
	var layered map[string]*Item // plain entries' addresses that a glob also matches: that glob
	if len(plain) > 0 {
		g := index()
		layered = make(map[string]*Item)
		all = make([]match, 0, len(globOrder)+len(plain))
		for _, mt := range globOrder {
			if _, ok := plain[mt.address]; !ok {
				all = append(all, mt)
			}
		}
		for a, mt := range plain {
			all = append(all, mt)
			if gm, ok := g[a]; ok {
				layered[a] = gm.item
			}
		}
	}
	if len(plain) > 0 || globs > 1 {
		slices.SortFunc(all, func(x, y match) int { return strings.Compare(x.address, y.address) })
	}
	entries := make([]Entry, 0, len(all))
	items := make([]*Item, 0, len(all))
	for _, mt := range all {
		a := mt.address
		// A plain entry's fields win over a glob's, which win over defaults, which win
		// over the built-in values.
		var room [3]Fields // on the stack: this runs once per file
		layers := append(room[:0], mt.item.Fields)
		if glob := layered[a]; glob != nil && glob != mt.item {
			layers = append(layers, glob.Fields)
		}
		layers = append(layers, doc.Defaults)
		e := Entry{
			Address:     a,
			Resolved:    mt.resolved,
			Filename:    pick(layers, func(f Fields) *Value { return f.Filename }, path.Base(a)),
			Disposition: pick(layers, func(f Fields) *Value { return f.Disposition }, DispositionAttachment),
			Type:        pick(layers, func(f Fields) *Value { return f.Type }, DefaultType),
			MimeType:    pick(layers, func(f Fields) *Value { return f.MimeType }, ""),
			Pos:         mt.item.Pos,
		}
		if msg := checkFilename(e.Filename); msg != "" {
			l.fail(mt.item, "rename the file, or list it on its own with a filename", "file name of %q: %s", a, msg)
			continue
		}
		entries = append(entries, e)
		items = append(items, mt.item)
	}
	return l.finishAll(entries, items)
}

// finishAll runs finish over entries, NumCPU files at once (most of the time is system
// calls, which overlap), and returns the entries kept, in order, errors in order too.
// Each worker takes the next entry from a shared counter: one goroutine per file
// would cost a goroutine start and a stack growth per file.
func (l *loader) finishAll(entries []Entry, items []*Item) []Entry {
	workers := max(1, min(runtime.NumCPU(), len(entries)))
	l.lookup = l.cache != nil && !l.cache.Empty()
	keep := make([]bool, len(entries))
	errs := make([]*Error, len(entries))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			head := make([]byte, WholeFileSize)
			for i := int(next.Add(1) - 1); i < len(entries); i = int(next.Add(1) - 1) {
				keep[i], errs[i] = l.finish(&entries[i], items[i], head)
			}
		})
	}
	wg.Wait()
	kept := entries[:0]
	for i, e := range entries {
		if errs[i] != nil {
			l.errs = append(l.errs, errs[i])
		}
		if keep[i] {
			kept = append(kept, e)
		}
	}
	return kept
}

func pick(layers []Fields, get func(Fields) *Value, builtin string) string {
	for _, f := range layers {
		if v := get(f); v != nil {
			return v.Text
		}
	}
	return builtin
}

// produced counts one more address and stops everything once the limit is passed.
func (l *loader) produced(it *Item) bool {
	l.count++
	if l.count > l.limit {
		l.fail(it, "narrow the globs, split the files over several manifests, or raise the limit with --max-files",
			"the manifest lists more than %d files, the most allowed", l.limit)
		l.aborted = true
		return false
	}
	return true
}

// sniffSize is how much of a file http.DetectContentType looks at.
const sniffSize = 512

// finish learns from the start of the file, once: that it is readable, whether it is
// a saved plan (a glob drops it, a plain entry is an error) and, when neither a layer
// nor the extension gives a mime type, its sniffed type. It reports whether e is kept,
// and the problem, if any. It runs concurrently: it changes only e.
func (l *loader) finish(e *Entry, it *Item, buf []byte) (bool, *Error) {
	fail := func(hint, format string, args ...any) (bool, *Error) {
		return false, &Error{Pos: it.Path.Pos, Field: fmt.Sprintf("attachments[%d].path", it.Index),
			Msg: fmt.Sprintf(format, args...), HintText: hint}
	}
	if e.MimeType == "" {
		e.MimeType = mimeByExtension(e.Address)
	}
	h, err := l.head(e, buf, e.MimeType == "")
	if err != nil {
		return fail("", "%q cannot be read: %s", e.Address, openReason(err))
	}
	if h.SavedPlan {
		if it.Glob {
			return false, nil
		}
		return fail(hintOwn, "%q is a saved desksync plan, which is never uploaded", e.Address)
	}
	if e.MimeType == "" {
		e.MimeType = h.Sniffed
	}
	return true, nil
}

// WholeFileSize is the largest file whose head read, with a cache to tell, takes in
// the whole file and its BLAKE3 digest, so that the hash pass does not open it again:
// the size of one read of the hash pass.
const WholeFileSize = 256 << 10

// head returns what the start of e's file says: from the cache when it holds the
// file's current stamp (one fstatat, no open), else read into buf, and then told to
// the cache with the stamp of the open file (and the digest of a file that fit buf).
// A digest known either way is left in e.Content for the hash pass.
func (l *loader) head(e *Entry, buf []byte, sniffing bool) (Head, error) {
	rel := filepath.FromSlash(e.Resolved)
	if l.lookup {
		if s, ok := l.dir.statStamp(rel); ok {
			if h, ok := l.cache.Head(e.Address, s); ok && (h.Sniffed != "" || !sniffing) {
				if h.Whole {
					e.Content = Content{Known: true, Size: s.Size, Digest: h.Digest}
				}
				return h, nil
			}
		}
	}
	n, s, stamped, whole, err := l.dir.readHead(l.root, rel, buf, mayBePlan, l.cache != nil)
	if err != nil {
		return Head{}, err
	}
	h := Head{SavedPlan: isSavedPlan(buf[:min(n, planMarkerWindow)])}
	if sniffing {
		h.Sniffed = sniff(buf[:min(n, sniffSize)])
	}
	if whole {
		h.Whole, h.Digest = true, blake3.Sum256(buf[:n])
		e.Content = Content{Known: true, Size: int64(n), Digest: h.Digest}
	}
	if stamped {
		l.cache.PutHead(e.Address, s, h)
	}
	return h, nil
}

// caseMiss records a file that the glob of it would match but for case.
func (l *loader) caseMiss(it *Item, addr string) {
	if l.caseMisses == nil {
		l.caseMisses = make(map[string]*Item)
	}
	if _, seen := l.caseMisses[addr]; !seen {
		l.caseMisses[addr] = it
	}
}

// maxWarningsOfAKind bounds each kind of warning, so a hostile tree cannot bury a
// plan under them; a last warning counts the rest.
const maxWarningsOfAKind = 20

// warnCaseMisses warns about files that no entry covers and that a glob misses only by
// case: "Invoice 08.PNG" and *.png.
func (l *loader) warnCaseMisses(plain, globbed map[string]match) {
	addrs := make([]string, 0, len(l.caseMisses))
	for a := range l.caseMisses {
		_, p := plain[a]
		_, g := globbed[a]
		if !p && !g {
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	for i, a := range addrs {
		it := l.caseMisses[a]
		if i == maxWarningsOfAKind {
			l.warnings = append(l.warnings, &Error{Pos: it.Path.Pos, Msg: fmt.Sprintf("… and %d more files missed only by case", len(addrs)-i)})
			break
		}
		l.warnings = append(l.warnings, &Error{Pos: it.Path.Pos, Field: fmt.Sprintf("attachments[%d].path", it.Index),
			Msg:      fmt.Sprintf("%q is not matched: glob %q differs from its name only by case", a, it.Path.Text),
			HintText: "globs match case exactly: widen the pattern (e.g. *.{png,PNG}) or rename the file"})
	}
}

// foldKey is what two addresses that collide on macOS or Windows share: the address
// case-folded after NFC normalisation. Plain ASCII, the usual case, takes a shortcut.
func foldKey(fold cases.Caser, a string) string {
	for i := 0; i < len(a); i++ {
		if a[i] >= utf8.RuneSelf {
			return fold.String(norm.NFC.String(a))
		}
	}
	return strings.ToLower(a)
}

// collisions warns about addresses that differ only by case or Unicode normalisation:
// they look alike in a plan and collide in a checkout on macOS or Windows.
func collisions(entries []Entry) ErrorList {
	fold := cases.Fold()
	// Addresses are unique, so two can share a key only when one of them is not its
	// own key (has upper case or non-ASCII): only the keys of those need a map.
	var changed map[string]bool
	for _, e := range entries {
		if key := foldKey(fold, e.Address); key != e.Address {
			if changed == nil {
				changed = make(map[string]bool)
			}
			changed[key] = true
		}
	}
	if changed == nil {
		return nil
	}
	first := make(map[string]int)
	var warns ErrorList
	for i, e := range entries {
		key := foldKey(fold, e.Address)
		if !changed[key] {
			continue
		}
		j, dup := first[key]
		if !dup {
			first[key] = i
			continue
		}
		if len(warns) == maxWarningsOfAKind {
			warns = append(warns, &Error{Pos: e.Pos, Msg: "… and more addresses that differ only by case or Unicode normalisation"})
			break
		}
		prev := entries[j].Address
		how := "by case"
		if !strings.EqualFold(prev, e.Address) {
			how = fmt.Sprintf("in Unicode normalisation (%+q and %+q)", prev, e.Address)
		}
		warns = append(warns, &Error{Pos: e.Pos,
			Msg:      fmt.Sprintf("%q and %q differ only %s", prev, e.Address, how),
			HintText: "rename one of them: on macOS and Windows both names are one file, so a checkout there keeps only one"})
	}
	return warns
}

// resolveFile checks a plain entry's file: inside the root after symlinks, existing,
// a regular file. It returns the resolved root-relative path.
func (l *loader) resolveFile(it *Item, addr string) (string, bool) {
	resolved, u := l.resolve(addr)
	if u != nil {
		l.failResolve(it, addr, u)
		return "", false
	}
	if dir := reservedDir(resolved); dir != "" {
		l.fail(it, hintReserved, "%q leads under %s/, which is never uploaded", addr, dir)
		return "", false
	}
	if own := l.own.describe(filepath.Join(l.root, filepath.FromSlash(resolved))); own != "" {
		l.fail(it, hintOwn, "%q is %s, which is never uploaded", addr, own)
		return "", false
	}
	fi, err := os.Stat(filepath.Join(l.root, filepath.FromSlash(resolved)))
	switch {
	case err != nil:
		l.fail(it, "", "%q cannot be read: %s", addr, reason(err))
		return "", false
	case fi.IsDir():
		l.fail(it, fmt.Sprintf("to take the files in it, use a glob such as %q", strings.TrimSuffix(addr, "/")+"/**/*"),
			"%q is a folder, not a file", addr)
		return "", false
	case !fi.Mode().IsRegular():
		l.fail(it, "", "%q is not a regular file", addr)
		return "", false
	}
	return resolved, true
}

// unresolved says why a path could not be resolved inside the root.
type unresolved struct {
	kind   int    // one of the constants below
	at     string // the path component (a prefix of the address) at fault
	reason string // the system's reason, for notReadable
}

const (
	notExist = iota
	notReadable
	brokenLink
	escapes
)

// resolve follows every symlink in addr and returns the target relative to the root,
// or says why it cannot: missing, unreadable, a broken link, or a link (the file or a
// folder on the way) leading outside the root.
func (l *loader) resolve(addr string) (string, *unresolved) {
	real, err := filepath.EvalSymlinks(filepath.Join(l.root, filepath.FromSlash(addr)))
	if err == nil {
		if rel, ok := l.inside(real); ok {
			return rel, nil
		}
	}
	// Something is wrong; walk the path a folder at a time to say what and where.
	parts := strings.Split(addr, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		full := filepath.Join(l.root, filepath.FromSlash(prefix))
		fi, lerr := os.Lstat(full)
		if lerr != nil {
			if errors.Is(lerr, fs.ErrNotExist) {
				return "", &unresolved{kind: notExist, at: prefix}
			}
			return "", &unresolved{kind: notReadable, at: prefix, reason: reason(lerr)}
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		real, err := filepath.EvalSymlinks(full)
		if err != nil {
			return "", &unresolved{kind: brokenLink, at: prefix}
		}
		if _, ok := l.inside(real); !ok {
			return "", &unresolved{kind: escapes, at: prefix}
		}
	}
	// Every link on the way stays inside, yet the whole does not resolve: report the
	// system's reason (e.g. a file used as a folder).
	if err == nil {
		err = errors.New("leads outside the manifest's folder")
	}
	return "", &unresolved{kind: notReadable, at: addr, reason: reason(err)}
}

// failResolve reports why a plain entry's path did not resolve.
func (l *loader) failResolve(it *Item, addr string, u *unresolved) {
	switch {
	case u.kind == notExist:
		l.fail(it, hintMissing, "%q does not exist", addr)
	case u.kind == notReadable:
		l.fail(it, "", "%q cannot be read: %s", addr, u.reason)
	case u.kind == brokenLink && u.at == addr:
		l.fail(it, "fix or remove the link", "%q is a broken symlink", addr)
	case u.kind == brokenLink:
		l.fail(it, "fix or remove the link", "%q goes through broken symlink %q", addr, u.at)
	case u.at == addr:
		l.fail(it, hintContain, "%q is a symlink that leads outside the manifest's folder", addr)
	default:
		l.fail(it, hintContain, "%q goes through symlink %q, which leads outside the manifest's folder", addr, u.at)
	}
}

// inside reports whether the absolute, resolved path real lies within the root, and
// returns it relative to the root, '/'-separated.
func (l *loader) inside(real string) (string, bool) {
	rel, err := filepath.Rel(l.root, real)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// sniff guesses a media type from a file's first 512 bytes, dropping parameters such
// as "; charset=utf-8", which Desk does not take.
func sniff(head []byte) string {
	t := http.DetectContentType(head)
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return "application/octet-stream"
}

// checkConstraint holds the running version against the manifest's `desksync:`
// constraint. A development build is let through with a warning: it cannot know which
// releases it sits between.
func checkConstraint(doc *Document, version string) (refused, warning *Error) {
	pos, text := doc.Desksync.Pos, doc.Desksync.Text
	switch {
	case DevelopmentBuild(version):
		return nil, &Error{Pos: pos, Field: "desksync",
			Msg:      fmt.Sprintf("this desksync is a development build (%s), not a release: the manifest's constraint %q is not checked", version, text),
			HintText: "install a release to have the constraint enforced"}
	case !doc.Constraint.Allows(version):
		return &Error{Pos: pos, Field: "desksync",
			Msg:      fmt.Sprintf("this manifest needs desksync %q, and this is desksync %s", text, version),
			HintText: "install a desksync release the constraint allows (see the README's install lines), or change the constraint in the manifest"}, nil
	}
	return nil, nil
}
