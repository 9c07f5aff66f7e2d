package gitstate

import (
	"fmt"
	"strings"

	"github.com/desksync/desksync/internal/hint"
)

// Prefix starts every git state location.
const Prefix = "git:"

// DefaultRemote is the remote used when a location names none.
const DefaultRemote = "origin"

// IsLocation reports whether a state location names a git ref rather than a file.
func IsLocation(s string) bool { return strings.HasPrefix(s, Prefix) }

// ParseLocation splits git:REF or git:REMOTE:REF. REF never holds a ':' (git forbids it),
// so REMOTE is whatever precedes the last one and may be a URL. REF must be a full ref
// name outside refs/heads/, refs/tags/ and refs/remotes/: the state never moves a branch
// or a tag.
func ParseLocation(raw string) (remote, ref string, err error) {
	rest, ok := strings.CutPrefix(raw, Prefix)
	if !ok {
		return "", "", fmt.Errorf("%q is not a git:REF or git:REMOTE:REF location", raw)
	}
	remote, ref = DefaultRemote, rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		remote, ref = rest[:i], rest[i+1:]
	}
	const example = "write it as git:refs/desksync/state (remote origin) or git:REMOTE:refs/desksync/state"
	if remote == "" || strings.HasPrefix(remote, "-") || strings.ContainsFunc(remote, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", "", hint.New(fmt.Sprintf("%q: the remote %q is not a remote name or URL", raw, remote), example)
	}
	if msg := checkRef(ref); msg != "" {
		return "", "", hint.New(fmt.Sprintf("%q: %s", raw, msg), example)
	}
	return remote, ref, nil
}

// IsRemoteName reports whether remote is a plain remote name (origin, upstream), not a URL
// or a path: what a manifest, which a pull request may change, is allowed to name.
func IsRemoteName(remote string) bool {
	return remote != "" && !strings.HasPrefix(remote, "-") && !strings.HasPrefix(remote, ".") &&
		!strings.ContainsFunc(remote, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
		})
}

// checkRef applies git check-ref-format's rules (and desksync's own) to a full ref name,
// returning what is wrong or "".
func checkRef(ref string) string {
	switch {
	case !strings.HasPrefix(ref, "refs/") || strings.Count(ref, "/") < 2:
		return fmt.Sprintf("%q is not a full ref name such as refs/desksync/state", ref)
	case strings.HasPrefix(ref, "refs/heads/"), strings.HasPrefix(ref, "refs/tags/"), strings.HasPrefix(ref, "refs/remotes/"):
		return fmt.Sprintf("%q is a branch, tag or remote-tracking ref; the state must have a ref of its own", ref)
	case strings.HasSuffix(ref, lockSuffix):
		return fmt.Sprintf("%q ends in %s, which desksync uses for the state's lock", ref, lockSuffix)
	case strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//") ||
		strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") || ref == "@" ||
		strings.ContainsFunc(ref, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) }):
		return fmt.Sprintf("%q is not a valid git ref name", ref)
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return fmt.Sprintf("%q is not a valid git ref name (a part starts with '.' or ends in .lock)", ref)
		}
	}
	return ""
}
