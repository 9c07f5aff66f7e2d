package command

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
)

type initCmd struct {
	Dir string `arg:"" optional:"" name:"DIR" help:"The folder to keep on Desk; default: the current one."`
}

func (c *initCmd) Help() string {
	return `Writes DIR/desksync.yaml listing the folder's files, one glob per top-level folder
("images/**") and the top-level files by name (or by extension when there are many),
with the line that lets editors check it against "desksync schema", and says which
folders it took. Hidden files and folders, desksync's own files, and files whose
names a manifest cannot hold (a control character, invalid UTF-8; each is named in a
warning) are left out. The draft is loaded as plan would load it before init reports
success. An existing manifest is never overwritten.

At the root of a git repository that holds source code, init without DIR writes
nothing and asks for the folder with the attachments ("desksync init docs"), or "."
to take the whole repository; with DIR it warns about the source code it took.

Also adds, once, to DIR/.gitignore the files desksync keeps locally (.desksync/, the
state's backup, lock and temp files, saved *.plan files; the state and its journal
are committed) and to DIR/.gitattributes the line that has git merge the state with
"desksync state merge"; either file being a symlink is refused. Running init again
changes nothing.

Exit status: 0 success, 1 error.`
}
func (*initCmd) ignoresWorkspace() {}

// Names init writes; the state is the manifest's default.
const (
	initManifestName = "desksync.yaml"
	initStateName    = "desksync.state.json"
)

// maxTopLevelFiles is how many top-level files init lists by name before it lists
// them by extension instead ("*.png"), so that the manifest stays readable.
const maxTopLevelFiles = 10

// gitignoreLines are the files desksync keeps beside the state that do not belong in
// git. The state and its journal do: after a kill the journal holds steps the state
// file does not (docs/team.md), so it is never ignored.
func gitignoreLines(state string) []string {
	return []string{
		".desksync/",
		state + ".backup",
		state + ".backup.tmp-*",
		state + ".lock",
		state + ".tmp-*",
		"*.plan",
	}
}

// gitattributesLine has git merge the state with desksync's driver, configured by
// the command initMergeDriver prints.
func gitattributesLine(state string) string { return state + " merge=desksync" }

const initMergeDriver = `git config merge.desksync.driver "desksync state merge %O %A %B"`

func (c *initCmd) Run(t *terminal) error {
	dir, explicit := c.Dir, c.Dir != ""
	if !explicit {
		dir = "."
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return hint.New(fmt.Sprintf("init: %v", err), "name an existing folder, or leave DIR out for the current one")
	}
	if !fi.IsDir() {
		return hint.New(fmt.Sprintf("init: %s is not a folder", dir), "name the folder that holds the files to keep on Desk")
	}
	// Every write below goes through root, which no symlink can lead out of.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer root.Close()
	gitFiles := []struct {
		name  string
		lines []string
	}{
		{".gitignore", gitignoreLines(initStateName)},
		{".gitattributes", []string{gitattributesLine(initStateName)}},
	}
	for _, f := range gitFiles {
		if err := refuseLink(root, dir, f.name); err != nil {
			return err
		}
	}
	manifestPath := filepath.Join(dir, initManifestName)
	switch _, err := root.Lstat(initManifestName); {
	case err == nil:
		fmt.Fprintf(t.stdout, "%s exists: left as it is (init never overwrites a manifest).\n", manifestPath)
	case errors.Is(err, fs.ErrNotExist):
		d, err := draftManifest(dir)
		if err != nil {
			return err
		}
		for _, s := range d.skipped {
			fmt.Fprintf(t.stderr, "desksync: warning: left out %s\n", s)
		}
		if err := d.checkRepositoryRoot(t, dir, explicit); err != nil {
			return err
		}
		m, err := writeDraft(root, manifestPath, d.text)
		if err != nil {
			return err
		}
		fmt.Fprintf(t.stdout, "Wrote %s, covering %d %s: %s.\n", manifestPath, len(m.Entries), plural(len(m.Entries), "file", "files"), tookSummary(m))
	default:
		return fmt.Errorf("init: %w", err)
	}
	for _, f := range gitFiles {
		added, err := appendMissingLines(root, dir, f.name, f.lines)
		if err != nil {
			return err
		}
		if added > 0 {
			fmt.Fprintf(t.stdout, "Added %d %s to %s.\n", added, plural(added, "line", "lines"), filepath.Join(dir, f.name))
		}
	}
	fmt.Fprintf(t.stdout, `
Next:
  - review %s: every file it lists becomes a Desk attachment;
  - have git merge the state with desksync's driver (once per clone):
      %s
  - desksync plan shows what apply would upload; desksync apply --sandbox tries it without an account.
`, manifestPath, initMergeDriver)
	return nil
}

// refuseLink fails when name in root is a symlink: appending to it would write
// wherever it points, maybe outside the folder (a file of the user's, .git/config).
func refuseLink(root *os.Root, dir, name string) error {
	fi, err := root.Lstat(name)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	target, _ := root.Readlink(name)
	return hint.New(fmt.Sprintf("init: %s is a symlink (to %q); init does not write through links", filepath.Join(dir, name), target),
		"replace it with a regular file, or add desksync's lines to the file it points to yourself (desksync init --help says which), then run init again")
}

// writeDraft creates the manifest (never over an existing one) and loads it as plan
// will, so that init reports success only for a manifest that validates: what it
// misjudged (a symlink out of the folder, too many files) is refused here, the
// manifest removed, and the user told what to change.
func writeDraft(root *os.Root, manifestPath, text string) (*manifest.Manifest, error) {
	f, err := root.OpenFile(initManifestName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var m *manifest.Manifest
		if m, err = manifest.Load(manifestPath, manifest.Options{}); err == nil {
			return m, nil
		}
		err = hint.Wrap(err, "init wrote no manifest: move or remove what the errors name, or run desksync init DIR on the folder that holds the attachments")
	} else {
		err = fmt.Errorf("init: write %s: %w", manifestPath, err)
	}
	if rerr := root.Remove(initManifestName); rerr != nil {
		err = errors.Join(err, fmt.Errorf("init: remove the unfinished %s: %w", manifestPath, rerr))
	}
	return nil, err
}

// tookSummary says which folders and top-level files the manifest covers, so that a
// user sees at once whether init took more than the attachments.
func tookSummary(m *manifest.Manifest) string {
	perFolder := map[string]int{}
	var folders []string
	top := 0
	for _, e := range m.Entries {
		first, _, nested := strings.Cut(e.Address, "/")
		if !nested {
			top++
			continue
		}
		if perFolder[first] == 0 {
			folders = append(folders, first)
		}
		perFolder[first]++
	}
	slices.Sort(folders)
	var parts []string
	for _, f := range folders {
		parts = append(parts, fmt.Sprintf("%s/ (%d)", quote.Text(f), perFolder[f]))
	}
	if top > 0 {
		parts = append(parts, fmt.Sprintf("%d top-level %s", top, plural(top, "file", "files")))
	}
	return strings.Join(parts, ", ")
}

// A draft is the manifest text init proposes, with what it left out and what looks
// like source code rather than attachments.
type draft struct {
	text    string
	skipped []string // why each left-out file was left out, ready to print
	source  []string // top-level folders and files that look like source code
	hidden  []string // top-level hidden folders, which no glob enters
}

// draftManifest drafts the manifest for dir.
func draftManifest(dir string) (*draft, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	d := &draft{}
	var folders [][]string
	var files, skippedFiles []string
	for _, e := range entries {
		name := e.Name()
		full := filepath.Join(dir, name)
		fi, err := os.Stat(full) // follows a symlink: what it names is what is uploaded
		if err != nil {
			continue // a dangling link is nothing to upload
		}
		if strings.HasPrefix(name, ".") {
			// As a glob's "*" and "**" skip them.
			if fi.IsDir() && name != ".git" && name != ".desksync" {
				d.hidden = append(d.hidden, name+"/")
			}
			continue
		}
		switch {
		case fi.IsDir() && e.Type()&fs.ModeSymlink == 0:
			if !utf8.ValidString(name) {
				d.skip(name+"/", "whose name is not valid UTF-8, which a manifest cannot spell")
				continue
			}
			c := d.cover(dir, name)
			if len(c.patterns) > 0 {
				folders = append(folders, c.patterns)
			}
			if c.source > 0 || sourceFolders[strings.ToLower(name)] {
				d.source = append(d.source, name+"/")
			}
		case fi.Mode().IsRegular() && !desksyncOwn(full, name):
			if why := manifest.CheckAddress(name); why != "" {
				d.skip(name, why)
				skippedFiles = append(skippedFiles, name)
				continue
			}
			files = append(files, name)
			if isSourceFile(name) {
				d.source = append(d.source, name)
			}
		}
	}
	if len(folders) == 0 && len(files) == 0 {
		return nil, hint.New(fmt.Sprintf("init: %s holds no files to keep on Desk", dir), "run init in the folder with the attachments (hidden files and folders are left out)")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# yaml-language-server: $schema=%s\n", schemaURL)
	b.WriteString("# desksync manifest: every file listed here is kept on Teamwork Desk as an attachment.\n")
	b.WriteString("# Paths and globs (** crosses folders) are relative to this file's folder.\n")
	b.WriteString("version: 1\nattachments:\n")
	for _, ps := range folders {
		for _, p := range ps {
			fmt.Fprintf(&b, "  - path: %s\n", strconv.Quote(p))
		}
	}
	for _, p := range topLevelPatterns(files, skippedFiles) {
		fmt.Fprintf(&b, "  - path: %s\n", strconv.Quote(p))
	}
	d.text = b.String()
	return d, nil
}

func (d *draft) skip(rel, why string) {
	d.skipped = append(d.skipped, fmt.Sprintf("%q, %s; rename it to keep it on Desk", rel, why))
}

// covered is what cover found under one folder.
type covered struct {
	patterns []string // what covers its files, each escaped; none when it holds none
	clean    bool     // no file under it was left out, so "rel/**" covers it
	source   int      // source-code files under it
}

// cover drafts the patterns for the folder rel (slash-separated, under dir): "rel/**"
// when every file a glob would match there may be listed; otherwise the folder's
// files by name and its subfolders each the same way, leaving out the files a
// manifest cannot hold. Like "**", it skips hidden names and does not enter
// symlinked folders; what else a glob leaves out (desksync's own files) it leaves
// to the glob.
func (d *draft) cover(dir, rel string) covered {
	entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return covered{clean: true}
	}
	c := covered{clean: true}
	var files []string
	type sub struct {
		name     string
		patterns []string
	}
	var subs []sub
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		child := rel + "/" + name
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(child)))
		switch {
		case err != nil:
		case fi.IsDir() && e.Type()&fs.ModeSymlink == 0:
			s := d.cover(dir, child)
			c.source += s.source
			c.clean = c.clean && s.clean
			if len(s.patterns) > 0 {
				subs = append(subs, sub{name, s.patterns})
			}
		case fi.Mode().IsRegular():
			if why := manifest.CheckAddress(child); why != "" {
				d.skip(child, why)
				c.clean = false
				continue
			}
			files = append(files, name)
			if isSourceFile(name) {
				c.source++
			}
		}
	}
	switch {
	case len(files) == 0 && len(subs) == 0:
		return c
	case c.clean:
		c.patterns = []string{escapeGlob(rel) + "/**"}
		return c
	}
	for _, f := range files {
		c.patterns = append(c.patterns, escapeGlob(rel)+"/"+escapeGlob(f))
	}
	for _, s := range subs {
		if !utf8.ValidString(s.name) {
			// Only "**" reached it; spelt out, as now, it cannot be.
			d.skip(rel+"/"+s.name+"/", "whose name is not valid UTF-8, which a manifest cannot spell")
			continue
		}
		c.patterns = append(c.patterns, s.patterns...)
	}
	return c
}

// sourceFolders are top-level folder names that hold code, not attachments.
var sourceFolders = map[string]bool{
	"src": true, "cmd": true, "internal": true, "pkg": true, "lib": true, "vendor": true,
	"node_modules": true, "scripts": true, "test": true, "tests": true, "build": true,
	"dist": true, "bin": true, "target": true,
}

// isSourceFile reports whether a file name is one of source code or of a build.
func isSourceFile(name string) bool {
	switch strings.ToLower(name) {
	case "go.mod", "go.sum", "package.json", "package-lock.json", "makefile", "cargo.toml",
		"pom.xml", "build.gradle", "pyproject.toml", "setup.py", "gemfile", "dockerfile":
		return true
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".go", ".c", ".h", ".cc", ".cpp", ".hpp", ".rs", ".py", ".rb", ".java", ".kt",
		".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".php", ".cs", ".swift", ".sh",
		".bash", ".ps1", ".pl", ".lua", ".scala":
		return true
	}
	return false
}

// checkRepositoryRoot refuses, at the root of a git repository that holds source
// code and with no DIR named, to draft a manifest of the whole repository: source
// code is rarely meant for a help desk, and the user is one word away from naming
// the folder that is. With DIR named it only warns, and it notes the hidden folders
// left out, which a user may have expected to be taken.
func (d *draft) checkRepositoryRoot(t *terminal, dir string, explicit bool) error {
	if _, err := os.Lstat(filepath.Join(dir, ".git")); err != nil {
		if len(d.source) > 0 {
			fmt.Fprintf(t.stderr, "desksync: warning: the manifest takes what looks like source code: %s\n", quoteList(d.source))
		}
		return nil
	}
	if len(d.source) > 0 && !explicit {
		return hint.New(fmt.Sprintf("init: this is the root of a git repository, and it holds source code (%s): init wrote nothing", quoteList(d.source)),
			"name the folder that holds the attachments, e.g. desksync init docs, or run desksync init . to take the whole repository")
	}
	if len(d.source) > 0 {
		fmt.Fprintf(t.stderr, "desksync: warning: the manifest takes what looks like source code: %s; remove their lines from the manifest unless they are attachments\n", quoteList(d.source))
	}
	if len(d.hidden) > 0 {
		fmt.Fprintf(t.stderr, "desksync: warning: hidden folders are left out (no glob enters them): %s\n", quoteList(d.hidden))
	}
	return nil
}

// quoteList prints names from the file system safely, at most eight of them.
func quoteList(names []string) string {
	var out []string
	for i, n := range names {
		if i == 8 {
			out = append(out, fmt.Sprintf("and %d more", len(names)-i))
			break
		}
		out = append(out, quote.Text(n))
	}
	return strings.Join(out, ", ")
}

// topLevelPatterns lists the top-level files by name, or when there are many, by
// extension ("*.png"), with the files that have none by name, and those that share
// their extension with a file left out (skipped), which the pattern would match.
func topLevelPatterns(files, skipped []string) []string {
	if len(files) <= maxTopLevelFiles {
		out := make([]string, len(files))
		for i, f := range files {
			out[i] = escapeGlob(f)
		}
		return out
	}
	var out []string
	for _, f := range files {
		p := escapeGlob(f)
		if ext := path.Ext(f); ext != "" && ext != f && !slices.ContainsFunc(skipped, func(s string) bool {
			return strings.EqualFold(path.Ext(s), ext) // globs may match case-insensitively
		}) {
			p = "*" + escapeGlob(ext)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// escapeGlob makes a file name match only itself in a manifest path: the manifest
// reads "*?[{" as a glob and has no backslash escape, so each becomes a one-character
// class.
func escapeGlob(name string) string {
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune("*?[{", r) {
			b.WriteString("[" + string(r) + "]")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// desksyncOwn reports whether a top-level file is one of desksync's own: the
// manifest, the state with its backup, lock, journal and temp files, or a saved plan
// (known by its "desksync_plan" key, so an attachment merely named *.plan stays one).
func desksyncOwn(full, name string) bool {
	if name == initManifestName || strings.HasPrefix(name, initStateName) {
		return true
	}
	f, err := os.Open(full)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	return bytes.Contains(head[:n], []byte(`"desksync_plan"`))
}

// appendMissingLines appends to the file name in root each of lines it does not hold
// yet (compared without surrounding blanks), under a comment saying who added them,
// and returns how many it added. The file is created when missing; a symlink was
// refused before (refuseLink), and root keeps one swapped in since inside the folder.
func appendMissingLines(root *os.Root, dir, name string, lines []string) (int, error) {
	p := filepath.Join(dir, name)
	data, err := root.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("init: %w", err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var missing []string
	for _, l := range lines {
		if !have[l] {
			missing = append(missing, l)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	var b strings.Builder
	if len(data) > 0 {
		if data[len(data)-1] != '\n' {
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("# desksync (desksync init)\n")
	for _, l := range missing {
		b.WriteString(l + "\n")
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("init: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return 0, fmt.Errorf("init: write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("init: write %s: %w", p, err)
	}
	return len(missing), nil
}

// plural is one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
