package manifest

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestMayRead: the stat stands for an open only when the mode bits that apply to this
// process allow reading; an owner without the read bit is refused even when others
// may read (as open(2) does).
func TestMayRead(t *testing.T) {
	t.Parallel()
	d := &rootDir{uid: 1000, gid: 100, groups: []uint32{100, 27}}
	for _, tc := range []struct {
		name     string
		uid, gid uint32
		mode     uint32
		want     bool
	}{
		{"owner r", 1000, 5, 0o400, true},
		{"owner without r, others r", 1000, 5, 0o044, false},
		{"group r", 1, 100, 0o040, true},
		{"supplementary group r", 1, 27, 0o040, true},
		{"group without r, others r", 1, 27, 0o404, false},
		{"other r", 1, 5, 0o004, true},
		{"nobody", 1, 5, 0o600, false},
	} {
		st := unix.Stat_t{Uid: tc.uid, Gid: tc.gid, Mode: unix.S_IFREG | tc.mode}
		if got := d.mayRead(&st); got != tc.want {
			t.Errorf("%s: mayRead = %v, want %v", tc.name, got, tc.want)
		}
	}
	root := &rootDir{uid: 0}
	if !root.mayRead(&unix.Stat_t{Mode: unix.S_IFREG}) {
		t.Error("root may read any file")
	}
}
