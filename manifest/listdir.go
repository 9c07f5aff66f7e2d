package manifest

import (
	"encoding/binary"
	"io/fs"
	"slices"
	"strings"
)

// dirent is one name in a folder listing, as the glob walk needs it.
type dirent struct {
	path string      // root-relative: the folder's path, "/", the name
	name string      // the last segment of path, sharing its bytes
	typ  fs.FileMode // type bits only, as fs.DirEntry.Type
}

// names collects a folder's names in one buffer, for direntsOf; the walk reuses one
// for every folder it lists. Each name is followed by a NUL and its type's four bytes:
// no name holds a NUL, which sorts before every byte a name can hold, so sorting these
// keys sorts the names, and each type travels with its name.
type names struct {
	raw  []byte
	ends []int
}

// typeSize is how many bytes follow a name in names.raw: the NUL and the type.
const typeSize = 5

func (n *names) reset() {
	n.raw, n.ends = n.raw[:0], n.ends[:0]
}

func (n *names) add(name []byte, typ fs.FileMode) {
	n.raw = append(n.raw, name...)
	n.raw = binary.LittleEndian.AppendUint32(append(n.raw, 0), uint32(typ))
	n.ends = append(n.ends, len(n.raw))
}

// direntsOf returns the names of the folder dir (root-relative), sorted by name, with
// their paths built in one string: the walk then allocates per folder, not per file.
func direntsOf(dir string, n *names) []dirent {
	all := string(n.raw)
	keys := make([]string, len(n.ends))
	start := 0
	for i, end := range n.ends {
		keys[i], start = all[start:end], end
	}
	slices.Sort(keys) // plain string order: cheaper than a comparison function per pair
	prefix := 0
	if dir != "" {
		prefix = len(dir) + 1
	}
	var b strings.Builder
	b.Grow(len(keys)*prefix + len(all) - len(keys)*typeSize)
	for _, k := range keys {
		if dir != "" {
			b.WriteString(dir)
			b.WriteByte('/')
		}
		b.WriteString(k[:len(k)-typeSize])
	}
	paths := b.String()
	out := make([]dirent, len(keys))
	at := 0
	for i, k := range keys {
		p := paths[at : at+prefix+len(k)-typeSize]
		t := k[len(k)-4:]
		out[i] = dirent{path: p, name: p[prefix:], typ: fs.FileMode(uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24)}
		at += len(p)
	}
	return out
}
