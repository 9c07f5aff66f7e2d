package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// checkStatTypes holds statType, which listDir uses where a file system keeps no type
// in its folders, to the types os.ReadDir gives.
func checkStatTypes(t *testing.T, dir string, want []os.DirEntry) {
	t.Helper()
	for _, w := range want {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, w.Name()), &st); err != nil {
			t.Fatal(err)
		}
		if got := statType(st.Mode); got != w.Type() {
			t.Errorf("statType of %q = %v, want %v", w.Name(), got, w.Type())
		}
	}
}
