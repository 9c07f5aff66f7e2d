package manifest

import (
	"io/fs"
	"syscall"
)

// StampOf is the stamp of fi, which must come from a stat (its Sys is a *syscall.Stat_t).
func StampOf(fi fs.FileInfo) Stamp {
	s := Stamp{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.CtimeNs = st.Ctim.Nano()
		s.Ino, s.Dev = st.Ino, st.Dev
	}
	return s
}
