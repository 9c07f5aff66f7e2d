package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/desksync/desksync/desk/desktest"
)

// apiKey is the emulator's key; it guards nothing.
const apiKey = "bench-key"

// diskThreshold is the total size from which -store auto keeps uploads on disk.
const diskThreshold = 256 << 20

// benchmark generates the files, builds desksync and runs the apply (twice with
// -compare, and all of it -rounds times), printing a report for each run, or one
// line per run when there are several rounds.
func benchmark(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	dir := cfg.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "desksync-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !cfg.keep && cfg.dir == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(stdout, "work folder: %s\n", dir)
	}

	bin := cfg.desksync
	if bin == "" {
		bin = filepath.Join(dir, "desksync")
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/desksync/desksync")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building desksync (run bench from inside the desksync module, or pass -desksync): %w", err)
		}
		fmt.Fprintf(stdout, "built desksync in %v\n", time.Since(start).Round(time.Millisecond))
	}

	start := time.Now()
	set, err := generate(filepath.Join(dir, "files"), cfg)
	if err != nil {
		return fmt.Errorf("generating files: %w", err)
	}
	fmt.Fprintf(stdout, "generated %d files, %s in all (%s), in %v\n", len(set.sizes), human(set.total), set.describe(),
		time.Since(start).Round(time.Millisecond))

	if cfg.series != nil {
		return series(ctx, cfg, bin, set, dir, stdout)
	}
	runs := []int{cfg.parallelism}
	if cfg.compare {
		runs = append(runs, 1)
	}
	var reports []*report
	var speedups []float64
	for round := 1; round <= cfg.rounds; round++ {
		var pair []*report
		for i, par := range runs {
			work := filepath.Join(dir, fmt.Sprintf("round%d-run%d", round, i+1))
			rep, err := applyOnce(ctx, cfg, bin, set, work, par)
			if rep != nil {
				if cfg.rounds == 1 {
					rep.print(stdout, cfg)
				} else {
					rep.printLine(stdout, round)
				}
				pair = append(pair, rep)
			}
			if err != nil {
				return err
			}
			if !cfg.keep {
				_ = os.RemoveAll(work)
			}
		}
		if round == 1 {
			reports = pair
		}
		if len(pair) == 2 {
			a, b := pair[0], pair[1]
			speedups = append(speedups, b.wall.Seconds()/a.wall.Seconds())
			if cfg.rounds == 1 {
				fmt.Fprintf(stdout, "\nspeed-up of --parallelism %d over 1: %.2fx wall (%.2fx in the upload phase)\n",
					a.parallelism, speedups[0], b.applyPhase().Seconds()/a.applyPhase().Seconds())
			}
		}
	}
	if len(speedups) > 1 {
		slices.Sort(speedups)
		fmt.Fprintf(stdout, "\nspeed-up of --parallelism %d over 1: %.2fx wall, median of %d rounds (%.2f-%.2fx)\n",
			cfg.parallelism, median(speedups), len(speedups), speedups[0], speedups[len(speedups)-1])
	}
	if cfg.oneFlag != "" {
		if err := curlCompare(ctx, cfg, set, filepath.Join(dir, "curl"), reports[0], stdout); err != nil {
			return err
		}
	}
	if cfg.curl {
		if err := curlScript(ctx, set, filepath.Join(dir, "curlsh"), stdout); err != nil {
			return err
		}
	}
	return nil
}

// emulator starts a fresh emulator on loopback, keeping blobs under dir when the
// files are large.
func emulator(cfg config, set *fileSet, dir string) (*desktest.Server, string, func(), error) {
	opts := desktest.Options{APIKey: apiKey, RateLimit: cfg.rate.requests, RateWindow: cfg.rate.window,
		ResetAsEpoch: cfg.epoch, Latency: cfg.latency}
	if cfg.store == "disk" || (cfg.store == "auto" && set.total >= diskThreshold) {
		opts.Dir = filepath.Join(dir, "emulator")
	}
	srv := desktest.New(opts)
	url, stop, err := desktest.Serve(srv)
	if err != nil {
		return nil, "", nil, err
	}
	return srv, url, stop, nil
}

// report is what one apply run measured.
type report struct {
	parallelism int
	files       int
	bytes       int64
	store       string

	started time.Time
	wall    time.Duration // the desksync process, start to exit
	maxRSS  int64         // bytes, from rusage: an upper bound (see watchRSS)
	hwm     int64         // bytes, VmHWM sampled while desksync ran
	cpu     time.Duration // desksync's user+system CPU time
	emuCPU  time.Duration // this process's (the emulator's) meanwhile
	// written is what desksync wrote to files (rusage oublock, which Linux counts as
	// /proc/PID/io write_bytes), emuWritten this process's meanwhile.
	written, emuWritten int64
	stateSize           int64 // the state file's size at the end
	events              timeline
	summary             summary

	desk, limited, s3, s3Failed int // from the emulator's request log
	limitedDesk                 int // Desk requests the limiter counted (not answered 429)
	firstDesk, lastDesk         time.Time
	active, temp                int
	serial                      int64 // of a state that started empty: its saves before the state journal, its mutations with it
}

// timeline is what the NDJSON events say about when things happened.
type timeline struct {
	plan, firstStart, lastDone time.Time
	uploadStart, uploadDone    time.Time // of the first upload (for -one)
	errors                     []string
}

type summary struct {
	Created int `json:"created"`
	Total   int `json:"total"`
	Failed  []struct {
		Address, Error string
	} `json:"failed"`
}

// applyOnce runs one desksync apply against a fresh emulator: the bench's own, or with
// -sandbox the one desksync embeds.
func applyOnce(ctx context.Context, cfg config, bin string, set *fileSet, work string, par int) (*report, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if err := set.manifest(filepath.Join(work, "desksync.yaml")); err != nil {
		return nil, err
	}
	args := []string{"apply", "--auto-approve", "--format", "json", "--parallelism", fmt.Sprint(par)}
	env := append(os.Environ(), "NO_COLOR=1")
	statePath := filepath.Join(work, "desksync.state.json")
	rep := &report{parallelism: par, files: len(set.sizes), bytes: set.total, store: "memory"}
	var srv *desktest.Server
	if cfg.sandbox {
		args = append(args, "--sandbox")
		statePath = filepath.Join(work, sandboxDir, "desksync.state.json")
		rep.store = "desksync --sandbox"
	} else {
		var url string
		var stop func()
		var err error
		if srv, url, stop, err = emulator(cfg, set, work); err != nil {
			return nil, err
		}
		defer stop()
		env = append(env, "DESK_URL="+url, "DESK_API_KEY="+apiKey)
		if cfg.store == "disk" || (cfg.store == "auto" && set.total >= diskThreshold) {
			rep.store = "disk"
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = work
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var self0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	rep.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hwm := watchRSS(cmd.Process.Pid)
	perr := rep.events.read(out, &rep.summary)
	rep.hwm = hwm()
	werr := cmd.Wait()
	rep.wall = time.Since(rep.started)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rep.maxRSS = int64(ru.Maxrss) << 10 // Linux reports KiB
		rep.cpu = cpuTime(ru)
		rep.written = ru.Oublock * 512
	}
	var self1 syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self1) == nil {
		rep.emuCPU = cpuTime(&self1) - cpuTime(&self0)
		rep.emuWritten = (self1.Oublock - self0.Oublock) * 512
	}
	if srv == nil {
		// Read the sandbox the way the next desksync --sandbox would.
		if srv, err = desktest.Open(filepath.Join(work, sandboxDir), desktest.Options{}); err != nil {
			return rep, fmt.Errorf("reading the sandbox desksync left: %w", err)
		}
	}
	rep.count(srv)
	rep.serial = serialOf(statePath)
	rep.stateSize = sizeOf(statePath)
	switch {
	case werr != nil:
		return rep, fmt.Errorf("desksync apply failed: %v\n%s", werr, stderr.String())
	case perr != nil:
		return rep, fmt.Errorf("reading desksync's NDJSON: %w", perr)
	case rep.summary.Created != rep.files || len(rep.summary.Failed) > 0:
		return rep, fmt.Errorf("desksync created %d of %d files; failures: %v", rep.summary.Created, rep.files, rep.summary.Failed)
	case rep.active != rep.files || rep.temp != 0:
		return rep, fmt.Errorf("the emulator holds %d active and %d temp files, want %d active and none temp", rep.active, rep.temp, rep.files)
	}
	return rep, nil
}

// sandboxDir is where desksync apply --sandbox keeps its emulator and state, relative
// to the manifest's folder.
const sandboxDir = ".desksync/sandbox"

// sizeOf is the size of the file at path, -1 when it cannot be read.
func sizeOf(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// read consumes the NDJSON stream.
func (t *timeline) read(r io.Reader, sum *summary) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the plan event holds the whole plan
	for sc.Scan() {
		var ev struct {
			Type    string          `json:"type"`
			Time    time.Time       `json:"time"`
			Action  string          `json:"action"`
			Error   string          `json:"error"`
			Summary json.RawMessage `json:"summary"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("line %q: %w", truncate(sc.Text(), 80), err)
		}
		switch ev.Type {
		case "plan":
			t.plan = ev.Time
		case "start":
			if t.firstStart.IsZero() {
				t.firstStart = ev.Time
			}
			if t.uploadStart.IsZero() && ev.Action == "create" {
				t.uploadStart = ev.Time
			}
		case "done":
			t.lastDone = ev.Time
			if t.uploadDone.IsZero() && ev.Action == "create" {
				t.uploadDone = ev.Time
			}
		case "error":
			t.errors = append(t.errors, ev.Error)
		case "summary":
			if err := json.Unmarshal(ev.Summary, sum); err != nil {
				return fmt.Errorf("summary: %w", err)
			}
		}
	}
	return sc.Err()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// count reads the emulator's request log and files.
func (rep *report) count(srv *desktest.Server) {
	for _, r := range srv.Requests() {
		switch r.Endpoint {
		case desktest.Upload:
			rep.s3++
			if r.Status/100 != 2 {
				rep.s3Failed++
			}
		case desktest.Ref, desktest.Patch, desktest.Get, desktest.Delete:
			rep.desk++
			if r.Status == 429 {
				rep.limited++
			} else {
				rep.limitedDesk++
			}
			if rep.firstDesk.IsZero() {
				rep.firstDesk = r.Time
			}
			rep.lastDesk = r.Time
		}
	}
	for _, f := range srv.Files() {
		switch f.State {
		case "active":
			rep.active++
		case "temp":
			rep.temp++
		}
	}
}

// applyPhase is from the first action's start to the last one's end.
func (rep *report) applyPhase() time.Duration {
	if rep.events.firstStart.IsZero() || rep.events.lastDone.IsZero() {
		return rep.wall
	}
	return rep.events.lastDone.Sub(rep.events.firstStart)
}

// minimum is the theoretical minimum time under the rate limit, as docs/benchmarks.md defines
// it: the Desk requests the limiter counted, divided by the limit, in whole windows.
// strict is the bound nobody can beat for the span from the first Desk request to the
// last: the first window is only what was left of it, and the last need not run out.
func (rep *report) minimum(r rateLimit) (windows int, minimum, strict time.Duration) {
	windows = (rep.limitedDesk + r.requests - 1) / r.requests
	minimum = time.Duration(windows) * r.window
	if windows >= 2 {
		// The emulator's windows are aligned to multiples of their length.
		firstEnd := rep.firstDesk.Truncate(r.window).Add(r.window)
		strict = firstEnd.Sub(rep.firstDesk) + time.Duration(windows-2)*r.window
	}
	return windows, minimum, strict
}

func (rep *report) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "\ndesksync apply --parallelism %d: %d files, %s (emulator storage: %s", rep.parallelism, rep.files, human(rep.bytes), rep.store)
	if cfg.rate.requests > 0 {
		fmt.Fprintf(w, ", rate limit %v", cfg.rate)
		if cfg.epoch {
			fmt.Fprint(w, ", Reset as epoch")
		}
	}
	if cfg.latency > 0 {
		fmt.Fprintf(w, ", latency %v", cfg.latency)
	}
	fmt.Fprintln(w, ")")
	secs := rep.wall.Seconds()
	fmt.Fprintf(w, "  wall time       %v (plan %v, actions %v)\n", rep.wall.Round(time.Millisecond),
		rep.planTime().Round(time.Millisecond), rep.applyPhase().Round(time.Millisecond))
	fmt.Fprintf(w, "  files/s         %.1f\n", float64(rep.summary.Created)/secs)
	fmt.Fprintf(w, "  MB/s            %.1f (10^6 bytes)\n", float64(rep.bytes)/1e6/secs)
	if cfg.sandbox {
		fmt.Fprintf(w, "  Desk requests   not counted: the emulator runs inside desksync\n")
	} else {
		fmt.Fprintf(w, "  Desk requests   %d (+ %d S3 uploads, not rate-limited)\n", rep.desk, rep.s3)
		fmt.Fprintf(w, "  429s            %d\n", rep.limited)
	}
	fmt.Fprintf(w, "  state serial    %d (%.2f per file)\n", rep.serial, float64(rep.serial)/float64(rep.files))
	fmt.Fprintf(w, "  peak RSS        %.1f MiB (VmHWM; rusage maxrss %.1f MiB)\n", float64(rep.hwm)/(1<<20), float64(rep.maxRSS)/(1<<20))
	fmt.Fprintf(w, "  bytes written   desksync %s (%s the final state's %s)", human(rep.written), rep.ratio(), human(rep.stateSize))
	if !cfg.sandbox {
		fmt.Fprintf(w, ", emulator %s", human(rep.emuWritten))
	}
	fmt.Fprintf(w, "\n  CPU             desksync %v (%.0f%% of one core)", rep.cpu.Round(time.Millisecond), 100*rep.cpu.Seconds()/secs)
	if !cfg.sandbox {
		fmt.Fprintf(w, ", emulator %v", rep.emuCPU.Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  result          %d created, %d failed; Desk holds %d active, %d temp\n",
		rep.summary.Created, len(rep.summary.Failed), rep.active, rep.temp)
	if cfg.rate.requests > 0 {
		windows, minimum, strict := rep.minimum(cfg.rate)
		span := rep.lastDesk.Sub(rep.firstDesk)
		fmt.Fprintf(w, "  minimum         %v = %d Desk requests / %d per %v, in whole windows (%d)\n",
			minimum, rep.limitedDesk, cfg.rate.requests, cfg.rate.window, windows)
		fmt.Fprintf(w, "  ratio           %.3fx wall / minimum; %.3fx actions / minimum\n",
			secs/minimum.Seconds(), rep.applyPhase().Seconds()/minimum.Seconds())
		if strict > 0 {
			fmt.Fprintf(w, "  strict bound    %v (rest of the first window, whole windows, none of the last): %.3fx first-to-last Desk request (%v) / bound\n",
				strict.Round(time.Millisecond), span.Seconds()/strict.Seconds(), span.Round(time.Millisecond))
		}
	}
}

// planTime is from the process's start to the plan event: loading the manifest,
// hashing every file, planning. (The events carry the same wall clock as ours.)
func (rep *report) planTime() time.Duration {
	if rep.events.plan.IsZero() {
		return 0
	}
	return rep.events.plan.Sub(rep.started)
}

// watchRSS samples /proc/PID/status every few milliseconds and returns a function that
// stops sampling and returns the highest VmHWM (the process's own peak RSS) seen.
//
// rusage's maxrss alone is not enough: Go starts children with vfork semantics, and
// Linux records the high-water mark of the memory the child ran in before exec, which
// is the bench process's own, into the child's maxrss. After an earlier run that kept
// a large in-memory emulator, that hid desksync's figure. VmHWM belongs to the memory
// map desksync got at exec, so it is desksync's alone; the last few milliseconds before
// exit may be missed, which is why maxrss is printed beside it as an upper bound.
func watchRSS(pid int) func() int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	stop := make(chan struct{})
	done := make(chan int64)
	go func() {
		var peak int64
		sample := func() {
			data, err := os.ReadFile(path)
			if err != nil {
				return // exited
			}
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kib int64
					if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err == nil {
						peak = max(peak, kib<<10)
					}
				}
			}
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-stop:
				sample()
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		return <-done
	}
}

// serialOf reads the serial of the state file at path; -1 when it cannot be read.
func serialOf(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	var st struct {
		Serial int64 `json:"serial"`
	}
	if json.Unmarshal(data, &st) != nil {
		return -1
	}
	return st.Serial
}

func cpuTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// human formats a byte count.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// printLine is the report in one line, for runs of several rounds: the runs of a pair
// alternate, so a machine that slows down for a while slows both.
func (r *report) printLine(w io.Writer, round int) {
	fmt.Fprintf(w, "round %d  --parallelism %-2d %8v  %5.2f serial/file  CPU desksync %v, emulator %v  %d created, %d failed\n",
		round, r.parallelism, r.wall.Round(time.Millisecond), float64(r.serial)/float64(max(r.files, 1)),
		r.cpu.Round(time.Millisecond), r.emuCPU.Round(time.Millisecond), r.summary.Created, len(r.summary.Failed))
}

// ratio is the bytes desksync wrote per byte of the final state.
func (r *report) ratio() string {
	if r.stateSize <= 0 {
		return "?x"
	}
	return fmt.Sprintf("%.0fx", float64(r.written)/float64(r.stateSize))
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
