package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
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
	"strings"
	"sync"
	"time"

	"github.com/desksync/desksync/state"
	"github.com/zeebo/blake3"
)

const planUsage = `usage: go run ./bench plan [-dir DIR] [-rounds N] [-trees large,small10k,small50k] [-desksync BIN]

plan builds three trees (kept in DIR and reused): 10,000 files totalling 1 GiB,
10,000 files of ~100 B and 50,000 files of ~100 B, each with a manifest of one glob. For
each it times, alternating, N rounds of: the baseline (b3sum over the same files when it
is installed, "apt-get install b3sum"; else a Go loop with zeebo/blake3, NumCPU files at
once; the output says which), a stat walk (find DIR -type f -printf '%s %T@ %i\n'),
"desksync plan --no-cache" in text and in JSON (cold: every file hashed), and the
daily plan: the hash cache warm and a state that records every file as it is, so the
plan is "No changes". Every measurement runs as a subprocess, so each has its wall
time and its CPU time (user+sys from rusage); it prints the medians, the ratios
against the baseline and the stat walk, and desksync's peak RSS (VmHWM sampled from
/proc every 5 ms, the highest of all its runs; rusage maxrss would count the bench's
own memory, see "bench apply"). All runs read from
the page cache: the trees are read once before timing. The machine's load average is
printed before and after: with other work on the machine, CPU time is the steadier
figure.

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
	fset.Usage = func() { io.WriteString(stderr, planUsage); fset.PrintDefaults() }
	dir := fset.String("dir", filepath.Join(os.TempDir(), "desksync-bench-plan"), "folder for the trees (reused across runs)")
	rounds := fset.Int("rounds", 5, "timed rounds of each measurement; medians are printed")
	only := fset.String("trees", "large,small10k,small50k", "comma-separated trees to measure")
	bin := fset.String("desksync", "", "desksync binaries to time, comma-separated, measured side by side in the same rounds (default: build this module's)")
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
	base := "b3sum"
	if _, err := exec.LookPath("b3sum"); err != nil {
		base = "Go BLAKE3 loop (b3sum is not installed)"
	}
	fmt.Fprintf(stdout, "%d CPUs, %d rounds, medians; baseline: %s; load average: %s\n", runtime.NumCPU(), *rounds, base, loadAverage())
	fmt.Fprintf(stdout, "wall time (CPU time user+sys), and the ratio of each to the baseline (cold) or to the stat walk (daily)\n\n")
	fmt.Fprintf(stdout, "| tree | baseline | stat walk | plan --no-cache | ratio | the same, json | ratio | daily plan | ratio to stat walk | peak RSS |\n")
	fmt.Fprintf(stdout, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	bins := strings.Split(*bin, ",")
	for _, t := range planTrees() {
		if !containsName(*only, t.name) {
			continue
		}
		root := filepath.Join(*dir, t.name)
		if err := buildPlanTree(root, t); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		rs, err := measurePlan(ctx, bins, root, t.files, *rounds)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", t.name, err)
			return 1
		}
		for i, r := range rs {
			name := t.name
			if len(bins) > 1 {
				name += " " + filepath.Base(bins[i])
			}
			fmt.Fprintf(stdout, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f MiB |\n", name,
				r.base, r.stat, r.cold, r.cold.ratio(r.base), r.json, r.json.ratio(r.base),
				r.daily, r.daily.ratio(r.stat), float64(r.rss)/(1<<20))
		}
	}
	fmt.Fprintf(stdout, "\nload average after: %s\n", loadAverage())
	return 0
}

// loadAverage is the first three fields of /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return "unknown"
	}
	return string(bytes.Join(f[:3], []byte(" ")))
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

// timing is the median wall and CPU time of one measurement.
type timing struct{ wall, cpu time.Duration }

func (t timing) String() string { return ms(t.wall) + " (" + ms(t.cpu) + ")" }

// ratio is t over base, in wall time and in CPU time.
func (t timing) ratio(base timing) string {
	return fmt.Sprintf("%.2fx (%.2fx)", t.wall.Seconds()/base.wall.Seconds(), t.cpu.Seconds()/base.cpu.Seconds())
}

type planResult struct {
	base, stat, cold, json, daily timing
	rss                           int64 // bytes, the highest of desksync's runs
}

// roundSeries collects one measurement's rounds.
type roundSeries struct{ wall, cpu []time.Duration }

func (s *roundSeries) add(wall, cpu time.Duration) {
	s.wall, s.cpu = append(s.wall, wall), append(s.cpu, cpu)
}

func (s *roundSeries) median() timing { return timing{medianOf(s.wall), medianOf(s.cpu)} }

// measurePlan alternates the measurements, of every binary in bins, for rounds rounds
// and keeps medians, so that noise from other work on the machine spreads over all of
// them alike. The baseline and the stat walk are shared by all binaries.
func measurePlan(ctx context.Context, bins []string, root string, files, rounds int) ([]planResult, error) {
	dir := filepath.Join(root, "files")
	paths, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) != files {
		return nil, fmt.Errorf("found %d files, want %d", len(paths), files)
	}
	if _, err := blake3Loop(paths); err != nil { // warm the page cache
		return nil, err
	}
	statePath := filepath.Join(root, "bench.state.json")
	emptyState := filepath.Join(root, "bench.none.json") // never written: plans against no state
	if err := writeFullState(ctx, bins[0], root, files, statePath); err != nil {
		return nil, err
	}
	var base, stat roundSeries
	type perBin struct {
		cold, js, daily roundSeries
		rss             []int64
	}
	per := make([]perBin, len(bins))
	for range rounds {
		w, c, err := baseline(ctx, paths)
		if err != nil {
			return nil, err
		}
		base.add(w, c)

		w, c, _, err = timeCmd(exec.CommandContext(ctx, "find", dir, "-type", "f", "-printf", "%s %T@ %i\n"))
		if err != nil {
			return nil, fmt.Errorf("stat walk: %v", err)
		}
		stat.add(w, c)

		for i, bin := range bins {
			b := &per[i]
			r, err := runPlan(ctx, bin, root, files, emptyState, "--no-cache")
			if err != nil {
				return nil, err
			}
			b.cold.add(r.wall, r.cpu)
			b.rss = append(b.rss, r.rss)

			r, err = runPlan(ctx, bin, root, files, emptyState, "--no-cache", "--format", "json")
			if err != nil {
				return nil, err
			}
			b.js.add(r.wall, r.cpu)
			b.rss = append(b.rss, r.rss)

			if err := os.RemoveAll(filepath.Join(root, ".desksync")); err != nil {
				return nil, err
			}
			if _, err := runPlan(ctx, bin, root, files, statePath); err != nil { // writes the cache
				return nil, err
			}
			r, err = runPlan(ctx, bin, root, files, statePath)
			if err != nil {
				return nil, err
			}
			if !bytes.Contains(r.stdout, []byte("No changes")) {
				return nil, fmt.Errorf("the daily plan has changes:\n%.2000s", r.stdout)
			}
			b.daily.add(r.wall, r.cpu)
			b.rss = append(b.rss, r.rss)
		}
	}
	out := make([]planResult, len(bins))
	for i, b := range per {
		out[i] = planResult{base.median(), stat.median(), b.cold.median(), b.js.median(), b.daily.median(), slices.Max(b.rss)}
	}
	return out, nil
}

func medianOf[T int64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

type planRun struct {
	wall, cpu time.Duration
	rss       int64 // bytes
	stdout    []byte
}

// timeCmd runs cmd with its output discarded unless set, and returns its wall time,
// its CPU time and its peak RSS.
func timeCmd(cmd *exec.Cmd) (wall, cpu time.Duration, rss int64, err error) {
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	peak := watchRSS(cmd.Process.Pid)
	err = cmd.Wait()
	rss = peak()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%v: %v\n%s", cmd.Args, err, stderr.Bytes())
	}
	wall = time.Since(start)
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return wall, cpu, rss, nil
}

// runPlan times one "desksync plan" against the state at statePath.
func runPlan(ctx context.Context, bin, root string, files int, statePath string, extra ...string) (planRun, error) {
	args := append([]string{"plan", "-m", filepath.Join(root, "desksync.yaml"), "--max-files", strconv.Itoa(files)}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "DESKSYNC_STATE="+statePath)
	wall, cpu, rss, err := timeCmd(cmd)
	return planRun{wall, cpu, rss, stdout.Bytes()}, err
}

// writeFullState writes, at statePath, a state that records every file of the tree
// as it is, from a JSON plan against no state, so that the daily plan is "No changes".
func writeFullState(ctx context.Context, bin, root string, files int, statePath string) error {
	r, err := runPlan(ctx, bin, root, files, filepath.Join(root, "bench.none.json"), "--no-cache", "--format", "json")
	if err != nil {
		return err
	}
	var doc struct {
		Changes []struct {
			Address string
			After   *state.Attachment
		}
	}
	if err := json.Unmarshal(r.stdout, &doc); err != nil {
		return fmt.Errorf("the JSON plan: %v", err)
	}
	st := state.New("https://bench.teamwork.com")
	st.Serial = 1
	uploaded := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range doc.Changes {
		if c.After == nil {
			return fmt.Errorf("the JSON plan against no state has a change without after: %s", c.Address)
		}
		a := *c.After
		a.ID, a.State, a.UploadedAt = int64(i+1), "active", uploaded
		st.Attachments[c.Address] = &a
	}
	data, err := st.Encode()
	if err != nil {
		return err
	}
	return os.WriteFile(statePath, data, 0o644)
}

// baseline hashes every path with b3sum (a few thousand paths per call, so as not to
// pass the kernel's limit on arguments), or with blake3Loop when b3sum is missing.
func baseline(ctx context.Context, paths []string) (wall, cpu time.Duration, err error) {
	if _, err := exec.LookPath("b3sum"); err != nil {
		start := time.Now()
		u0, _ := selfUsage()
		if _, err := blake3Loop(paths); err != nil {
			return 0, 0, err
		}
		u1, _ := selfUsage()
		return time.Since(start), u1.cpu - u0.cpu, nil
	}
	for chunk := range slices.Chunk(paths, 4000) {
		w, c, _, err := timeCmd(exec.CommandContext(ctx, "b3sum", append([]string{"--no-names"}, chunk...)...))
		if err != nil {
			return 0, 0, err
		}
		wall, cpu = wall+w, cpu+c
	}
	return wall, cpu, nil
}

// listFiles returns the regular files under dir.
func listFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	return paths, err
}

// blake3Loop is the fallback baseline: every path read whole and hashed with
// BLAKE3, NumCPU files at once.
func blake3Loop(paths []string) (int, error) {
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
