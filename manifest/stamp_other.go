//go:build !linux && !openbsd && !darwin && !freebsd && !netbsd

package manifest

import "io/fs"

// StampIdentifiesFile is false here: a stat gives size and mtime only (on Windows, no
// file index and no change time without opening the file), and two files of equal
// size and mtime swapped under their names would look unchanged, so desksync keeps
// no hash cache on this platform and reads every file.
const StampIdentifiesFile = false

// StampOf is the stamp of fi: size and mtime only here.
func StampOf(fi fs.FileInfo) Stamp {
	return Stamp{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: fi.ModTime().UnixNano()}
}
