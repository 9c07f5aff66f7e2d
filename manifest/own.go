package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// PlanMarker is the top-level key every saved plan file carries; a glob skips a file
// whose leading JSON object has it, whatever the file is called.
const PlanMarker = "desksync_plan"

// planMarkerWindow is how much of a file is read to look for PlanMarker: the plan
// writer puts it first, so a few KiB is plenty and a big JSON attachment costs no more.
const planMarkerWindow = 8 << 10

// hintReserved explains why nothing under .git/ or .desksync/ is ever an attachment.
const hintReserved = ".git/ holds the checkout's credentials and .desksync/ desksync's own data; neither may be uploaded, however it is reached"

// hintOwn explains why desksync's own files are never attachments.
const hintOwn = "desksync's own files (the manifest, the state with its backup, lock and journal, saved plans) change on every run and are never uploaded; remove the entry"

// reservedDir returns the first segment of the clean root-relative path p that is .git
// or .desksync, in any case (a case-insensitive disk opens .GIT as .git), or "".
func reservedDir(p string) string {
	for seg := range strings.SplitSeq(p, "/") {
		if strings.EqualFold(seg, ".git") || strings.EqualFold(seg, ".desksync") {
			return seg
		}
	}
	return ""
}

// ownFiles recognises desksync's own files by their resolved absolute paths.
type ownFiles struct {
	manifest  string // the manifest, resolved
	stateDir  string // the folder of the state in use, resolved; "" for an s3:// state
	stateBase string // the state file's name
	state     string // the state file, resolved, in case it is itself a link
}

func newOwnFiles(manifestPath, statePath string) ownFiles {
	o := ownFiles{manifest: resolvedAbs(manifestPath)}
	if !IsStateURL(statePath) {
		o.stateDir = resolvedAbs(filepath.Dir(statePath))
		o.stateBase = filepath.Base(statePath)
		o.state = resolvedAbs(statePath)
	}
	return o
}

// resolvedAbs is p absolute with symlinks resolved as far as it exists.
func resolvedAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// mayBe reports whether a file named base could be one of desksync's own files, so
// that describe, which needs the absolute path, runs only for those: a cheap test
// for each of the many files a glob matches.
func (o ownFiles) mayBe(base string) bool {
	return base == filepath.Base(o.manifest) || base == filepath.Base(o.state) ||
		(o.stateDir != "" && strings.HasPrefix(base, o.stateBase))
}

// describe says which of desksync's own files abs (absolute, resolved) is, or "".
func (o ownFiles) describe(abs string) string {
	switch abs {
	case o.manifest:
		return "the manifest"
	case o.state:
		return "the state file"
	}
	if o.stateDir == "" || filepath.Dir(abs) != o.stateDir {
		return ""
	}
	rest, ok := strings.CutPrefix(filepath.Base(abs), o.stateBase)
	if !ok {
		return ""
	}
	switch {
	case rest == "":
		return "the state file"
	case rest == ".lock", rest == ".backup", rest == ".journal":
		return "the state's " + rest[1:]
	}
	for _, kind := range []string{"", ".lock", ".backup", ".journal"} {
		if strings.HasPrefix(rest, kind+".tmp-") {
			return "a temporary file of the state"
		}
	}
	return ""
}

// isSavedPlan reports whether head, the start of a file, opens a JSON object with the
// PlanMarker key at its top level. A value too long for head ends the search: the
// marker is written first.
func isSavedPlan(head []byte) bool {
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil {
		return false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		if key == PlanMarker {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// resolveState checks the manifest's `state:` path (already known to be relative and
// inside the root as written) after symlinks: the part that exists must stay inside the
// root and out of .git/ and .desksync/'s reserved folders. It returns the state's path.
func (l *loader) resolveState(v *Value) string {
	clean := path.Clean(v.Text)
	p := filepath.Join(l.root, filepath.FromSlash(clean))
	fail := func(hint, format string, args ...any) {
		l.errs = append(l.errs, &Error{Pos: v.Pos, Field: "state", Msg: fmt.Sprintf(format, args...), HintText: hint})
	}
	const elsewhere = "state: must name a file inside the manifest's folder; to keep the state elsewhere, pass --state or set DESKSYNC_STATE in the pipeline"
	resolved, u := l.resolve(clean)
	if u != nil && u.kind == notExist {
		// A state not yet written: its folder, where it will be created, must be inside.
		resolved = ""
		if dir := path.Dir(clean); dir == "." {
			resolved = path.Base(clean)
		} else if rd, du := l.resolve(dir); du == nil {
			resolved = rd + "/" + path.Base(clean)
		} else if du.kind == notExist {
			return p // its folder is missing too: saving will say so
		} else {
			u = du
		}
		if resolved != "" {
			u = nil
		}
	}
	switch {
	case u == nil:
	case u.kind == escapes:
		fail(elsewhere, "%q goes through symlink %q, which leads outside the manifest's folder", v.Text, u.at)
		return p
	case u.kind == brokenLink:
		fail("fix or remove the link", "%q goes through broken symlink %q", v.Text, u.at)
		return p
	default:
		return p // unreadable: the state store reports it with its own reason
	}
	if dir := reservedDir(resolved); dir != "" {
		fail(elsewhere, "%q leads under %s/, where the state may not be kept", v.Text, dir)
	}
	return p
}

// readHeadPortable reads the start of rel into buf through os.OpenInRoot: up to
// sniffSize bytes, then on to len(buf) when more says so; with stamp set, it also
// returns the open file's stamp.
func readHeadPortable(root, rel string, buf []byte, more func([]byte) bool, stamp bool) (int, Stamp, bool, error) {
	f, err := os.OpenInRoot(root, rel)
	if err != nil {
		return 0, Stamp{}, false, err
	}
	defer f.Close()
	var s Stamp
	stamped := false
	if stamp {
		if fi, err := f.Stat(); err == nil {
			s, stamped = StampOf(fi), true
		}
	}
	n, err := io.ReadFull(f, buf[:sniffSize])
	if err == nil && more(buf[:n]) {
		var k int
		k, err = io.ReadFull(f, buf[n:])
		n += k
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, s, stamped, err
}

// mayBePlan reports whether head could start a saved plan, which is worth reading on.
func mayBePlan(head []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("{"))
}
