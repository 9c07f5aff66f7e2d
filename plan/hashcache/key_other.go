//go:build !linux

package hashcache

import "io/fs"

// KeyOf is the stat data of fi that the cache compares: size and mtime only here, so
// the ctime slot repeats the mtime (the racy-clean rule still applies).
func KeyOf(fi fs.FileInfo) Key {
	return Key{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: fi.ModTime().UnixNano()}
}
