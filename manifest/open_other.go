//go:build !linux

package manifest

import "os"

// rootDir is the root folder; elsewhere than Linux, files are opened by path.
type rootDir struct{}

func openRootDir(string) *rootDir { return nil }

// open opens rel, a symlink-free path relative to root, through os.OpenInRoot.
func (*rootDir) open(root, rel string) (*os.File, error) { return os.OpenInRoot(root, rel) }

// readHead reads the start of rel into buf; see readHeadPortable.
func (*rootDir) readHead(root, rel string, buf []byte, more func([]byte) bool) (int, error) {
	return readHeadPortable(root, rel, buf, more)
}
