//go:build !linux

package manifest

import "os"

// listDir lists the folder at abs (dir root-relative) through os.ReadDir.
func listDir(abs, dir string, _ []byte, found *names) ([]dirent, error) {
	ents, err := os.ReadDir(abs)
	if err != nil {
		return nil, err
	}
	found.reset()
	for _, e := range ents {
		found.add([]byte(e.Name()), e.Type())
	}
	return direntsOf(dir, found), nil
}
