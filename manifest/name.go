package manifest

import (
	"path"
	"strings"
)

// CheckAddress says why no manifest could list a file at address a, or "" when one
// can: a must be a clean '/'-separated path inside the manifest's folder, held to the
// rules Load holds every file a glob matches to. It is the one rule for an address
// that does not come from a manifest: init leaves such files out of the manifest it
// drafts rather than write one that Load then refuses, and state mv refuses to re-key
// a record to an address that could never be planned against.
func CheckAddress(a string) string {
	if a == "" || a == "." || a == ".." || path.IsAbs(a) || path.Clean(a) != a || strings.HasPrefix(a, "../") {
		return "whose path is not clean or leads outside the manifest's folder"
	}
	if msg := checkPathChars(a); msg != "" {
		return msg
	}
	if msg := checkFilename(path.Base(a)); msg != "" {
		return "whose file name " + msg
	}
	return ""
}
