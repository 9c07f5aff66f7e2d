//go:build darwin || freebsd || netbsd

package manifest

import (
	"io/fs"
	"syscall"
)

// StampIdentifiesFile reports whether a Stamp carries the file's identity (inode and
// device) and change time, so that two files of equal size and mtime swapped under
// their names still differ. The hash cache is used only where it does.
const StampIdentifiesFile = true

// StampOf is the stamp of fi, which must come from a stat (its Sys is a *syscall.Stat_t).
func StampOf(fi fs.FileInfo) Stamp {
	s := Stamp{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.CtimeNs = st.Ctimespec.Nano()
		s.Ino, s.Dev = uint64(st.Ino), uint64(st.Dev)
	}
	return s
}
