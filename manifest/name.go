package manifest

import "path"

// CheckAddress says why a manifest could not list the file at address a (slash-
// separated, relative to the manifest's folder) under its own name, or "" when it can:
// the rules Load holds every file a glob matches to. init uses it to leave such files
// out of the manifest it drafts rather than write one that Load then refuses.
func CheckAddress(a string) string {
	if msg := checkAddress(a); msg != "" {
		return msg
	}
	if msg := checkFilename(path.Base(a)); msg != "" {
		return "whose file name " + msg
	}
	return ""
}
