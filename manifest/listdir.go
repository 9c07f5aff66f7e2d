package manifest

import (
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
// for every folder it lists.
type names struct {
	raw   []byte
	ends  []int
	types []fs.FileMode
}

func (n *names) reset() {
	n.raw, n.ends, n.types = n.raw[:0], n.ends[:0], n.types[:0]
}

func (n *names) add(name []byte, typ fs.FileMode) {
	n.raw = append(n.raw, name...)
	n.ends = append(n.ends, len(n.raw))
	n.types = append(n.types, typ)
}

// direntsOf returns the names of the folder dir (root-relative), sorted by name, with
// their paths built in one string: the walk then allocates per folder, not per file.
func direntsOf(dir string, n *names) []dirent {
	prefix := 0
	if dir != "" {
		prefix = len(dir) + 1
	}
	var b strings.Builder
	b.Grow(len(n.ends)*prefix + len(n.raw))
	start := 0
	for _, end := range n.ends {
		if dir != "" {
			b.WriteString(dir)
			b.WriteByte('/')
		}
		b.Write(n.raw[start:end])
		start = end
	}
	all := b.String()
	out := make([]dirent, len(n.ends))
	at, start := 0, 0
	for i, end := range n.ends {
		p := all[at : at+prefix+end-start]
		out[i] = dirent{path: p, name: p[prefix:], typ: n.types[i]}
		at, start = at+len(p), end
	}
	slices.SortFunc(out, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	return out
}
