package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// fileSet is the generated files: files/fNNNNN.bin under the work folder's parent.
type fileSet struct {
	dir   string
	sizes []int64
	total int64
}

func (s *fileSet) path(i int) string { return filepath.Join(s.dir, fmt.Sprintf("f%05d.bin", i)) }

// first is the set of the first n files.
func (s *fileSet) first(n int) *fileSet {
	sub := &fileSet{dir: s.dir, sizes: s.sizes[:n]}
	for _, size := range sub.sizes {
		sub.total += size
	}
	return sub
}

// mixBucket is one part of -mix: a share of the files with sizes log-uniform in
// [lo, hi).
type mixBucket struct {
	share  float64
	lo, hi int64
}

// mixBuckets is -mix: mostly small documents and images, a few large PDFs and videos.
func mixBuckets() []mixBucket {
	return []mixBucket{
		{0.60, 1 << 10, 16 << 10},
		{0.30, 16 << 10, 1 << 20},
		{0.09, 1 << 20, 8 << 20},
		{0.01, 8 << 20, 32 << 20},
	}
}

// generate writes cfg.files files of pseudo-random content (ChaCha8 from cfg.seed, so
// runs are repeatable and nothing compresses) into dir.
func generate(dir string, cfg config) (*fileSet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("desksync bench %d", cfg.seed))
	src := rand.NewChaCha8(seed)
	rng := rand.New(rand.NewPCG(cfg.seed, 42))
	set := &fileSet{dir: dir, sizes: make([]int64, cfg.files)}
	buckets := mixBuckets()
	buf := make([]byte, 1<<20)
	for i := range set.sizes {
		size := cfg.size
		if cfg.mix {
			size = drawSize(rng, buckets)
		}
		set.sizes[i] = size
		set.total += size
		if err := writeFile(set.path(i), size, src, buf); err != nil {
			return nil, err
		}
	}
	return set, nil
}

func drawSize(rng *rand.Rand, buckets []mixBucket) int64 {
	u := rng.Float64()
	b := buckets[len(buckets)-1]
	for _, c := range buckets {
		if u < c.share {
			b = c
			break
		}
		u -= c.share
	}
	lo, hi := math.Log(float64(b.lo)), math.Log(float64(b.hi))
	return int64(math.Exp(lo + rng.Float64()*(hi-lo)))
}

func writeFile(path string, size int64, src *rand.ChaCha8, buf []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, len(buf))
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = src.Read(buf[:n]) // ChaCha8.Read never fails
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// manifest writes a desksync.yaml at path whose one glob entry covers every file.
func (s *fileSet) manifest(path string) error {
	rel, err := filepath.Rel(filepath.Dir(path), s.dir)
	if err != nil {
		return err
	}
	// The files live outside each run's folder so that runs share them; a symlink
	// would be refused by containment, so link the folder's files in instead.
	local := filepath.Join(filepath.Dir(path), "files")
	if strings.HasPrefix(rel, "..") {
		if err := os.MkdirAll(local, 0o755); err != nil {
			return err
		}
		for i := range s.sizes {
			if err := os.Link(s.path(i), filepath.Join(local, filepath.Base(s.path(i)))); err != nil {
				return fmt.Errorf("linking the generated files into %s: %w", local, err)
			}
		}
	}
	return os.WriteFile(path, []byte("version: 1\nattachments:\n  - path: \"files/*.bin\"\n"), 0o644)
}

// describe summarises the size distribution.
func (s *fileSet) describe() string {
	if len(s.sizes) == 1 {
		return "one file"
	}
	sorted := append([]int64(nil), s.sizes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	if sorted[0] == sorted[len(sorted)-1] {
		return fmt.Sprintf("%s each", human(sorted[0]))
	}
	return fmt.Sprintf("min %s, median %s, max %s", human(sorted[0]), human(sorted[len(sorted)/2]), human(sorted[len(sorted)-1]))
}
