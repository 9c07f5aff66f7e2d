package hashcache

import (
	"io/fs"
	"syscall"
)

// KeyOf is the stat data of fi that the cache compares.
func KeyOf(fi fs.FileInfo) Key {
	k := Key{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.CtimeNs = st.Ctim.Nano()
		k.Ino, k.Dev = st.Ino, st.Dev
	}
	return k
}
