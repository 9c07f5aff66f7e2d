//go:build !linux

package manifest

import "os"

// rootDir is the root folder; elsewhere than Linux, files are opened by path.
type rootDir struct{}

func openRootDir(string) *rootDir { return nil }

// open opens rel, a symlink-free path relative to root, through os.OpenInRoot.
func (*rootDir) open(root, rel string) (*os.File, error) { return os.OpenInRoot(root, rel) }

// readHead reads the start of rel into buf; see readHeadPortable.
func (*rootDir) readHead(root, rel string, buf []byte, more func([]byte) bool, stamp bool) (int, Stamp, bool, bool, error) {
	n, s, stamped, err := readHeadPortable(root, rel, buf[:min(len(buf), planMarkerWindow)], more, stamp)
	return n, s, stamped, false, err
}

// statStamp never lets the cache stand for an open here: without the owner and mode
// checks of Linux, every file is opened (its digest may still come from the cache).
func (*rootDir) statStamp(string) (Stamp, bool) { return Stamp{}, false }
