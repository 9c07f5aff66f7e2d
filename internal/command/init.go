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

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/manifest"
)

type initCmd struct {
	Dir string `arg:"" optional:"" default:"." name:"DIR" help:"The folder to keep on Desk; default: the current one."`
}

func (c *initCmd) Help() string {
	return `Writes DIR/desksync.yaml listing the folder's files, one glob per top-level folder
("images/**") and the top-level files by name (or by extension when there are many),
with the line that lets editors check it against "desksync schema". Hidden files
and folders, and desksync's own files, are left out. An existing manifest is never
overwritten.

Also adds, once, to DIR/.gitignore the files desksync keeps locally (.desksync/, the
state's backup, lock and temp files, saved *.plan files; the state and its journal
are committed) and to DIR/.gitattributes the line that has git merge the state with
"desksync state merge". Running init again changes nothing.

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
// file does not (SPEC §8), so it is never ignored.
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
	dir := c.Dir
	fi, err := os.Stat(dir)
	if err != nil {
		return hint.New(fmt.Sprintf("init: %v", err), "name an existing folder, or leave DIR out for the current one")
	}
	if !fi.IsDir() {
		return hint.New(fmt.Sprintf("init: %s is not a folder", dir), "name the folder that holds the files to keep on Desk")
	}
	manifestPath := filepath.Join(dir, initManifestName)
	wrote := false
	switch _, err := os.Lstat(manifestPath); {
	case err == nil:
		fmt.Fprintf(t.stdout, "%s exists: left as it is (init never overwrites a manifest).\n", manifestPath)
	case errors.Is(err, fs.ErrNotExist):
		text, files, err := initManifest(dir)
		if err != nil {
			return err
		}
		if err := writeNew(manifestPath, text); err != nil {
			return err
		}
		wrote = true
		fmt.Fprintf(t.stdout, "Wrote %s, covering %d %s.\n", manifestPath, files, plural(files, "file", "files"))
	default:
		return fmt.Errorf("init: %w", err)
	}
	for _, f := range []struct {
		name  string
		lines []string
	}{
		{".gitignore", gitignoreLines(initStateName)},
		{".gitattributes", []string{gitattributesLine(initStateName)}},
	} {
		p := filepath.Join(dir, f.name)
		added, err := appendMissingLines(p, f.lines)
		if err != nil {
			return err
		}
		if added > 0 {
			fmt.Fprintf(t.stdout, "Added %d %s to %s.\n", added, plural(added, "line", "lines"), p)
		}
	}
	if wrote {
		// Check what was written the way plan will read it: a folder that holds a
		// symlink out of the root, or too many files, is refused there too.
		if _, err := manifest.Load(manifestPath, manifest.Options{Version: runningVersion()}); err != nil {
			return hint.Wrap(err, fmt.Sprintf("edit %s to leave out what it names, then run desksync validate", manifestPath))
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

// initManifest is the manifest text for dir and the number of files it covers.
func initManifest(dir string) (string, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, fmt.Errorf("init: %w", err)
	}
	var folders, files []string
	covered := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // as a glob's "*" and "**" skip them, and .git, .desksync
		}
		full := filepath.Join(dir, name)
		fi, err := os.Stat(full) // follows a symlink: what it names is what is uploaded
		if err != nil {
			continue // a dangling link is nothing to upload
		}
		switch {
		case fi.IsDir() && e.Type()&fs.ModeSymlink == 0:
			if n := countFiles(full); n > 0 {
				folders = append(folders, name)
				covered += n
			}
		case fi.Mode().IsRegular() && !desksyncOwn(full, name):
			files = append(files, name)
			covered++
		}
	}
	if covered == 0 {
		return "", 0, hint.New(fmt.Sprintf("init: %s holds no files to keep on Desk", dir), "run init in the folder with the attachments (hidden files and folders are left out)")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# yaml-language-server: $schema=%s\n", schemaURL)
	b.WriteString("# desksync manifest: every file listed here is kept on Teamwork Desk as an attachment.\n")
	b.WriteString("# Paths and globs (** crosses folders) are relative to this file's folder.\n")
	b.WriteString("version: 1\nattachments:\n")
	for _, f := range folders {
		fmt.Fprintf(&b, "  - path: %s\n", strconv.Quote(escapeGlob(f)+"/**"))
	}
	for _, p := range topLevelPatterns(files) {
		fmt.Fprintf(&b, "  - path: %s\n", strconv.Quote(p))
	}
	return b.String(), covered, nil
}

// topLevelPatterns lists the top-level files by name, or when there are many, by
// extension ("*.png"), with the files that have none by name.
func topLevelPatterns(files []string) []string {
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
		if ext := path.Ext(f); ext != "" && ext != f {
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

// countFiles counts the files "dir/**" matches: regular files (or links to them) not
// under a hidden folder, not hidden, and not reached through a linked folder.
func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
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

// writeNew creates path with text, failing if it exists: a manifest made meanwhile
// is not overwritten either.
func writeNew(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("init: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("init: write %s: %w", path, err)
	}
	return nil
}

// appendMissingLines appends to the file at path each of lines it does not hold yet
// (compared without surrounding blanks), under a comment saying who added them, and
// returns how many it added. The file is created when missing.
func appendMissingLines(path string, lines []string) (int, error) {
	data, err := os.ReadFile(path)
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
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("init: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return 0, fmt.Errorf("init: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("init: write %s: %w", path, err)
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
