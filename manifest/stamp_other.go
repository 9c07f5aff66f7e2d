//go:build !linux

package manifest

import "io/fs"

// StampOf is the stamp of fi: size and mtime only here, so the ctime slot repeats the
// mtime (the racy-clean rule still applies).
func StampOf(fi fs.FileInfo) Stamp {
	return Stamp{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: fi.ModTime().UnixNano()}
}
