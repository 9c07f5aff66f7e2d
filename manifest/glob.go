package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/desksync/desksync/internal/quote"
)

// expand returns one match per regular file the item's glob matches, sorted by
// address. Globs are matched a path segment at a time so that:
//   - a name starting with '.' is matched only by a segment that starts with '.'
//     (as in a shell), and `**` never descends into such folders;
//   - .git and .desksync are never searched;
//   - `**` does not descend into symlinked folders (no cycles, no double listing),
//     while a literal or wildcard segment may pass through one, which must then
//     resolve inside the root, like any plain path;
//   - the work is bounded: at most Options.MaxEntries addresses overall, and ten
//     times that many folders read.
func (l *loader) expand(it *Item) []match {
	pattern := path.Clean(it.Path.Text)
	segs := strings.Split(pattern, "/")
	if segs[len(segs)-1] == "**" {
		// "dir/**" means every file below dir, i.e. "dir/**/*".
		segs = append(segs, "*")
	}
	g := &globber{l: l, it: it, segs: segs, seen: make(map[string]bool), badDir: make(map[string]bool)}
	g.walk("", 0, false)
	// In the walk's order (folders listed sorted, depth first), which is nearly the
	// address order, so the sort has little to do.
	out := g.order
	slices.SortFunc(out, func(a, b match) int { return strings.Compare(a.address, b.address) })
	return out
}

type globber struct {
	l    *loader
	it   *Item
	segs []string
	// seen holds the "dir\x00segment index" states already walked. A file is matched
	// only by the last segment in its own folder, a state walked once, so no file is
	// found twice and the matches need no set of their own.
	seen   map[string]bool
	order  []match         // the matches, in the order found
	badDir map[string]bool // folders already reported
	// The folder listed last: "**" lists a folder for the next segment and then again
	// for its subfolders, and the second listing is this one.
	lastDir    string
	lastListed []dirent
	listed     bool
	buf        []byte // for listDir
	names      names  // for listDir
}

func hasMeta(seg string) bool { return strings.ContainsAny(seg, "*?[{") }

// walk matches segs[i:] against the folder dir (root-relative, "" for the root);
// linked says whether a symlink was passed on the way there.
func (g *globber) walk(dir string, i int, linked bool) {
	if g.l.aborted {
		return
	}
	key := dir + "\x00" + strconv.Itoa(i)
	if g.seen[key] {
		return
	}
	g.seen[key] = true
	seg := g.segs[i]
	last := i == len(g.segs)-1
	switch {
	case seg == "**":
		g.walk(dir, i+1, linked) // ** matching no folder at all
		for _, d := range g.readDir(dir) {
			if g.l.aborted {
				return
			}
			if d.typ.IsDir() && !strings.HasPrefix(d.name, ".") {
				g.walk(d.path, i, linked)
			}
		}
	case !hasMeta(seg):
		if reservedDir(seg) != "" {
			return
		}
		child := path.Join(dir, seg)
		fi, err := os.Lstat(g.abs(child))
		if err != nil {
			return // a literal segment that is not there simply matches nothing
		}
		g.visit(child, fi.Mode(), last, i, linked)
	default:
		for _, d := range g.readDir(dir) {
			if g.l.aborted {
				return
			}
			name := d.name
			if reservedDir(name) != "" || (strings.HasPrefix(name, ".") && !strings.HasPrefix(seg, ".")) {
				continue
			}
			if ok, _ := doublestar.Match(seg, name); ok {
				g.visit(d.path, d.typ, last, i, linked)
			} else if last && d.typ.IsRegular() && matchFold(seg, name) {
				g.l.caseMiss(g.it, d.path)
			}
		}
	}
}

// visit handles one name that matched segment i: a candidate file when i is the last
// segment, else a folder to walk into.
func (g *globber) visit(child string, mode fs.FileMode, last bool, i int, linked bool) {
	if mode&fs.ModeSymlink != 0 {
		linked = true
		resolved, ok := g.l.resolveGlob(g.it, child)
		if !ok || reservedDir(resolved) != "" {
			return // a link into .git/ or .desksync/ is skipped like the folder itself
		}
		fi, err := os.Stat(g.abs(child))
		if err != nil {
			return
		}
		mode = fi.Mode()
	}
	if !last {
		if mode.IsDir() {
			g.walk(child, i+1, linked)
		}
		return
	}
	if !mode.IsRegular() {
		return // a glob takes regular files only
	}
	if msg := checkPathChars(child); msg != "" {
		g.l.fail(g.it, "rename the file, or narrow the glob", "glob matches %q, %s", child, msg)
		return
	}
	// With no symlink on the way, a regular file in the (symlink-free) root is its
	// own resolved path; resolving costs a system call per folder, per file.
	resolved, ok := child, true
	if linked {
		resolved, ok = g.l.resolveGlob(g.it, child)
	}
	if !ok || (g.l.own.mayBe(path.Base(resolved)) && g.l.own.describe(g.abs(resolved)) != "") || !g.l.produced(g.it) {
		return
	}
	if len(g.order) == cap(g.order) {
		// At least doubled: append grows a long slice by a quarter at a time, copying
		// it again at every step on the way to its final size.
		g.order = slices.Grow(g.order, max(cap(g.order), 16))
	}
	g.order = append(g.order, match{address: child, resolved: resolved, item: g.it})
}

func (g *globber) abs(rel string) string { return filepath.Join(g.l.root, filepath.FromSlash(rel)) }

// readDir lists a folder, charging the folder budget.
func (g *globber) readDir(dir string) []dirent {
	if g.l.aborted {
		return nil
	}
	if g.listed && g.lastDir == dir {
		return g.lastListed
	}
	ents := g.list(dir)
	g.lastDir, g.lastListed, g.listed = dir, ents, true
	return ents
}

func (g *globber) list(dir string) []dirent {
	g.l.dirBudget--
	if g.l.dirBudget < 0 {
		g.l.fail(g.it, "narrow the glob, e.g. start it with a folder name",
			"glob %q searches more than %d folders, the most allowed", g.it.Path.Text, 10*g.l.limit)
		g.l.aborted = true
		return nil
	}
	if g.buf == nil {
		g.buf = make([]byte, 32<<10)
	}
	ents, err := listDir(g.abs(dir), dir, g.buf, &g.names)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !g.badDir[dir] {
			g.badDir[dir] = true
			show := dir
			if show == "" {
				show = "."
			}
			g.l.fail(g.it, "", "glob cannot read folder %q: %s", show, reason(err))
		}
		return nil
	}
	return ents
}

// resolveGlob is resolve for a path a glob reached. Each bad link is reported once
// per glob, even when several patterns reach it.
func (l *loader) resolveGlob(it *Item, rel string) (string, bool) {
	resolved, u := l.resolve(rel)
	if u == nil {
		return resolved, true
	}
	var e *Error
	field := fmt.Sprintf("attachments[%d].path", it.Index)
	switch u.kind {
	case notExist:
		return "", false // removed while we looked: no match
	case notReadable:
		e = &Error{Msg: fmt.Sprintf("glob reaches %q, which cannot be read: %s", u.at, u.reason)}
	case brokenLink:
		e = &Error{Msg: fmt.Sprintf("glob reaches %q, a broken symlink", u.at), HintText: "fix or remove the link, or narrow the glob"}
	default:
		e = &Error{Msg: fmt.Sprintf("glob reaches %q, a symlink that leads outside the manifest's folder", u.at), HintText: hintContain}
	}
	e.Pos, e.Field = it.Path.Pos, field
	for _, prev := range l.errs {
		if *prev == *e {
			return "", false
		}
	}
	l.errs = append(l.errs, e)
	return "", false
}

// checkPathChars checks the characters of a path that a glob produced from the file
// system, since file names can hold characters a manifest path may not. CheckAddress
// holds the whole rule for an address.
func checkPathChars(a string) string {
	if strings.ContainsRune(a, '\\') {
		return "whose path contains a backslash"
	}
	if quote.HasControl(a) {
		return "whose path contains a control character"
	}
	return ""
}

// matchFold reports whether pattern matches name when case is ignored.
func matchFold(pattern, name string) bool {
	ok, _ := doublestar.Match(strings.ToLower(pattern), strings.ToLower(name))
	return ok
}
