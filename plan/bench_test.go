package plan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
)

// BenchmarkPlan times Compute (hashing included, no state: every file a create) over
// a generated tree of mixed sizes.
//
//	go test ./plan -run '^$' -bench 'Plan/small'             # seconds
//	go test ./plan -run '^$' -bench 'Plan/large' -benchtime 3x
//
// With DESKSYNC_BENCH_TREE=DIR the tree is written under DIR/<name> and kept (and
// reused), so other tools can hash the very same files, e.g. `b3sum`.
func BenchmarkPlan(b *testing.B) {
	for _, bc := range []struct {
		name  string
		files int
		total int64
	}{
		{"small", 200, 20 << 20},
		{"large", 10000, 1 << 30},
	} {
		b.Run(bc.name, func(b *testing.B) {
			root := b.TempDir()
			if dir := os.Getenv("DESKSYNC_BENCH_TREE"); dir != "" {
				root = filepath.Join(dir, bc.name)
			}
			m, total := benchTree(b, root, bc.files, bc.total)
			ctx := context.Background()
			n := 0
			b.ResetTimer()
			for b.Loop() {
				p, err := Compute(ctx, m, nil, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Changes) != bc.files {
					b.Fatalf("%d changes, want %d", len(p.Changes), bc.files)
				}
				n++
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(bc.files*n)/secs, "files/s")
			b.ReportMetric(float64(total)*float64(n)/1e6/secs, "MB/s")
		})
	}
}

// benchTree writes (or, when root holds a finished tree, reuses) `files` files of
// mixed sizes totalling about `total` bytes: most a few KiB, some hundreds of KiB, a
// few MiB, like the images, PDFs and videos of a help centre. Sizes and contents come
// from a fixed seed, so every run hashes the same bytes.
func benchTree(b *testing.B, root string, files int, total int64) (*manifest.Manifest, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(files)))
	sizes := make([]int64, files)
	var sum int64
	for i := range sizes {
		switch r := rng.IntN(100); {
		case r < 70:
			sizes[i] = 1<<10 + rng.Int64N(15<<10)
		case r < 95:
			sizes[i] = 16<<10 + rng.Int64N(240<<10)
		default:
			sizes[i] = 256<<10 + rng.Int64N(4<<20)
		}
		sum += sizes[i]
	}
	var got int64
	for i := range sizes {
		sizes[i] = sizes[i] * total / sum
		got += sizes[i]
	}

	m := &manifest.Manifest{Path: filepath.Join(root, "desksync.yaml"), Root: root}
	for i := range sizes {
		addr := fmt.Sprintf("d%02d/f%05d.bin", i%100, i)
		m.Entries = append(m.Entries, manifest.Entry{
			Address: addr, Resolved: addr, Filename: filepath.Base(addr),
			Disposition: "attachment", Type: "attachment", MimeType: "application/octet-stream",
		})
	}
	// Entries are sorted by address, as manifest.Load returns them.
	defer slices.SortFunc(m.Entries, func(x, y manifest.Entry) int { return strings.Compare(x.Address, y.Address) })
	done := filepath.Join(root, ".complete")
	if _, err := os.Stat(done); err == nil {
		return m, got
	}
	src := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 5<<20)
	for i, e := range m.Entries {
		p := filepath.Join(root, filepath.FromSlash(e.Address))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if int64(len(buf)) < sizes[i] {
			buf = make([]byte, sizes[i])
		}
		data := buf[:sizes[i]]
		src.Read(data)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return m, got
}

// BenchmarkPlanTree times what "desksync plan" does offline, Load then Compute, over the
// tree in DESKSYNC_BENCH_PLAN_TREE (a folder "go run ./bench plan" made), for profiling:
// cold reads every file (--no-cache), warm goes through a hash cache that a first,
// untimed pass wrote (rendering is left out):
//
//	DESKSYNC_BENCH_PLAN_TREE=/tmp/desksync-bench-plan/small50k \
//	  go test ./plan -run '^$' -bench PlanTree/warm -cpuprofile cpu.out
func BenchmarkPlanTree(b *testing.B) {
	root := os.Getenv("DESKSYNC_BENCH_PLAN_TREE")
	if root == "" {
		b.Skip("set DESKSYNC_BENCH_PLAN_TREE to a tree made by go run ./bench plan")
	}
	ctx := context.Background()
	mp := filepath.Join(root, "desksync.yaml")
	once := func(b *testing.B, cache *hashcache.Cache) {
		opts := manifest.Options{MaxEntries: 1 << 20}
		if cache != nil {
			opts.Cache = cache
		}
		m, err := manifest.Load(mp, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compute(ctx, m, nil, Options{HashCache: cache}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			once(b, nil)
		}
	})
	b.Run("warm", func(b *testing.B) {
		c := hashcache.Open(root, mp)
		once(b, c)
		if err := c.Save(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			once(b, hashcache.Open(root, mp))
		}
	})
}
