package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/zeebo/blake3"
)

const planUsage = `usage: go run ./bench plan [-dir DIR] [-rounds N] [-trees large,small10k,small50k] [-desksync BIN]

plan builds three trees (kept in DIR and reused): 10,000 files totalling 1 GiB,
10,000 files of ~100 B and 50,000 files of ~100 B, each with a manifest of one glob. For
each it times, alternating, N rounds of: a BLAKE3 baseline (a Go loop with zeebo/blake3
over the same files, NumCPU files at once, each read whole), a stat walk (WalkDir and
Lstat, what "find -printf" does), "desksync plan --no-cache" (cold: every file hashed)
and "desksync plan" twice (the second one finds the hash cache warm). It prints the
medians, the ratios against the baseline and the stat walk, and desksync's peak RSS
(rusage maxrss, the highest of all its runs; the bench process itself stays small).
All runs read from the page cache: the trees are read once before timing.

Flags:
`

type planTree struct {
	name  string
	files int
	size  func(rng *rand.Rand) int64
}

func planTrees() []planTree {
	return []planTree{
		// 1 GiB over 10,000 files: 107,374 B on average, spread 1/2x to 3/2x.
		{"large", 10000, func(rng *rand.Rand) int64 { return 53687 + rng.Int64N(107374) }},
		{"small10k", 10000, func(rng *rand.Rand) int64 { return 50 + rng.Int64N(100) }},
		{"small50k", 50000, func(rng *rand.Rand) int64 { return 50 + rng.Int64N(100) }},
	}
}

func planBench(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("bench plan", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, planUsage); fset.PrintDefaults() }
	dir := fset.String("dir", filepath.Join(os.TempDir(), "desksync-bench-plan"), "folder for the trees (reused across runs)")
	rounds := fset.Int("rounds", 5, "timed rounds of each measurement; medians are printed")
	only := fset.String("trees", "large,small10k,small50k", "comma-separated trees to measure")
	bin := fset.String("desksync", "", "desksync binary to time (default: build this module's)")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if *bin == "" {
		*bin = filepath.Join(*dir, "desksync")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/desksync/desksync")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "bench: building desksync: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "%d CPUs, %d rounds, medians; ratios are desksync / baseline\n\n", runtime.NumCPU(), *rounds)
	fmt.Fprintf(stdout, "| tree | BLAKE3 loop | stat walk | plan --no-cache | ratio | plan, cache warm | ratio to stat walk | peak RSS | per file |\n")
	fmt.Fprintf(stdout, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, t := range planTrees() {
		if !containsName(*only, t.name) {
			continue
		}
		root := filepath.Join(*dir, t.name)
		if err := buildPlanTree(root, t); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		r, err := measurePlan(ctx, *bin, root, t.files, *rounds)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", t.name, err)
			return 1
		}
		fmt.Fprintf(stdout, "| %s | %v | %v | %v | %.2fx | %v | %.2fx | %.0f MiB | %.1f KiB |\n", t.name,
			ms(r.baseline), ms(r.stat), ms(r.cold), r.cold.Seconds()/r.baseline.Seconds(),
			ms(r.warm), r.warm.Seconds()/r.stat.Seconds(), float64(r.rss)/(1<<20), float64(r.rss)/float64(t.files)/1024)
	}
	return 0
}

func containsName(list, name string) bool {
	for _, s := range bytes.Split([]byte(list), []byte(",")) {
		if string(bytes.TrimSpace(s)) == name {
			return true
		}
	}
	return false
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 0, 64) + " ms" }

// buildPlanTree writes t under root (100 folders, fixed seed) unless a finished one is there.
func buildPlanTree(root string, t planTree) error {
	done := filepath.Join(root, ".complete")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	rng := rand.New(rand.NewPCG(7, uint64(t.files)))
	src := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 1<<20)
	for i := range t.files {
		p := filepath.Join(root, "files", fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		n := t.size(rng)
		if int64(len(buf)) < n {
			buf = make([]byte, n)
		}
		src.Read(buf[:n])
		if err := os.WriteFile(p, buf[:n], 0o644); err != nil {
			return err
		}
	}
	manifest := "version: 1\nattachments:\n  - path: \"files/**/*.bin\"\n"
	if err := os.WriteFile(filepath.Join(root, "desksync.yaml"), []byte(manifest), 0o644); err != nil {
		return err
	}
	return os.WriteFile(done, nil, 0o644)
}

type planResult struct {
	baseline, stat, cold, warm time.Duration
	rss                        int64 // bytes, the highest of the cold and warm plans
}

// measurePlan alternates the four measurements for rounds rounds and keeps medians, so
// that noise from other work on the machine spreads over all of them alike.
func measurePlan(ctx context.Context, bin, root string, files, rounds int) (planResult, error) {
	// A desksync without a hash cache (to measure the "before") has no --no-cache.
	var noCache []string
	if help, _ := exec.CommandContext(ctx, bin, "plan", "--help").Output(); bytes.Contains(help, []byte("--no-cache")) {
		noCache = []string{"--no-cache"}
	}
	if _, err := blake3Loop(filepath.Join(root, "files")); err != nil { // warm the page cache
		return planResult{}, err
	}
	var base, stat, cold, warm []time.Duration
	var rss []int64
	for range rounds {
		start := time.Now()
		n, err := blake3Loop(filepath.Join(root, "files"))
		if err != nil {
			return planResult{}, err
		}
		if n != files {
			return planResult{}, fmt.Errorf("baseline hashed %d files, want %d", n, files)
		}
		base = append(base, time.Since(start))

		start = time.Now()
		if n, err := statWalk(filepath.Join(root, "files")); err != nil || n != files {
			return planResult{}, fmt.Errorf("stat walk: %d files, %v", n, err)
		}
		stat = append(stat, time.Since(start))

		d, r, err := runPlan(ctx, bin, root, files, noCache...)
		if err != nil {
			return planResult{}, err
		}
		cold, rss = append(cold, d), append(rss, r)

		if err := os.RemoveAll(filepath.Join(root, ".desksync")); err != nil {
			return planResult{}, err
		}
		if _, _, err := runPlan(ctx, bin, root, files); err != nil { // writes the cache
			return planResult{}, err
		}
		d, r, err = runPlan(ctx, bin, root, files)
		if err != nil {
			return planResult{}, err
		}
		warm, rss = append(warm, d), append(rss, r)
	}
	return planResult{medianOf(base), medianOf(stat), medianOf(cold), medianOf(warm), slices.Max(rss)}, nil
}

func medianOf[T int64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// runPlan times one "desksync plan" and returns its peak RSS in bytes.
func runPlan(ctx context.Context, bin, root string, files int, extra ...string) (time.Duration, int64, error) {
	args := append([]string{"plan", "-m", filepath.Join(root, "desksync.yaml"), "--max-files", strconv.Itoa(files)}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "DESKSYNC_STATE="+filepath.Join(root, "bench.state.json"))
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("desksync %v: %v\n%s", args, err, stderr.Bytes())
	}
	d := time.Since(start)
	var rss int64
	if u, ok := childUsage(cmd.ProcessState); ok {
		rss = u.maxRSS
	}
	return d, rss, nil
}

// blake3Loop is the baseline: every file under dir read whole and hashed with BLAKE3,
// NumCPU files at once, as b3sum would (it is not installed here).
func blake3Loop(dir string) (int, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sink := 0
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			h := blake3.New()
			for p := range jobs {
				f, err := os.Open(p)
				if err == nil {
					h.Reset()
					_, err = io.CopyBuffer(h, f, buf)
					f.Close()
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				sink += len(hex.EncodeToString(h.Sum(nil)))
				mu.Unlock()
			}
		}()
	}
	for _, p := range paths {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	return len(paths), firstErr
}

// statWalk lists dir and Lstats every entry, like "find DIR -printf '%s %T@\n'".
func statWalk(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n, err
}
