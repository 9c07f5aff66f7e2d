//go:build unix && !linux

package manifest

import (
	"os"
	"testing"
)

// checkStatTypes has nothing to check here: listDir is os.ReadDir.
func checkStatTypes(*testing.T, string, []os.DirEntry) {}
