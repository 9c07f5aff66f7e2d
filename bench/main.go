package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/desksync/desksync/plan"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: go run ./bench apply [flags]
       go run ./bench save [-entries N] [-n ROUNDS] [-dir DIR]
       go run ./bench plan [-dir DIR] [-rounds N] [-trees large,small10k,small50k]

apply generates files and a manifest, starts the Desk emulator on loopback, and runs
"desksync apply --auto-approve --format json" against it as a subprocess.
save times one state save (what apply pays after every action) for a state of N
attachments.

Flags:
`

// run parses args, runs the benchmark and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "save" {
		return saveBench(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "plan" {
		return planBench(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "apply" {
		newFlags(stderr, &config{}).Usage()
		return 2
	}
	var cfg config
	fs := newFlags(stderr, &cfg)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := cfg.finish(); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := benchmark(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// config is the parsed command line.
type config struct {
	files       int
	sizeFlag    string
	size        int64
	mix         bool
	oneFlag     string
	rateFlag    string
	rate        rateLimit
	epoch       bool
	parallelism int
	sequential  bool
	compare     bool
	rounds      int
	curl        bool
	store       string
	latency     time.Duration
	dir         string
	keep        bool
	desksync    string
	seed        uint64
	seriesFlag  string
	series      []int
	sandbox     bool
}

func newFlags(out io.Writer, c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("bench apply", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&c.files, "files", 1000, "number of files to generate")
	fs.StringVar(&c.sizeFlag, "size", "4KiB", "size of each file (B, KiB, MiB, GiB; also KB, MB, GB)")
	fs.BoolVar(&c.mix, "mix", false, "draw sizes from a mix (60% 1-16 KiB, 30% 16 KiB-1 MiB, 9% 1-8 MiB, 1% 8-32 MiB) instead of -size")
	fs.StringVar(&c.oneFlag, "one", "", "upload one file of this size (e.g. 1GiB) and compare with curl -F on the same endpoint")
	fs.StringVar(&c.rateFlag, "rate", "", "emulator rate limit as REQUESTS/WINDOW, e.g. 20/2s (Desk: 120/1m); empty: none")
	fs.BoolVar(&c.epoch, "epoch", false, "with -rate: send X-Rate-Limit-Reset as a Unix time instead of seconds to go")
	fs.IntVar(&c.parallelism, "parallelism", 4, "desksync apply --parallelism")
	fs.BoolVar(&c.sequential, "sequential", false, "baseline: --parallelism 1")
	fs.BoolVar(&c.compare, "compare", false, "run twice, with -parallelism and with 1, on fresh emulators, and print the speed-up")
	fs.IntVar(&c.rounds, "rounds", 1, "repeat the run (with -compare, the pair, alternating) this many times and print the median speed-up")
	fs.BoolVar(&c.curl, "curl", false, "also time bench/curl.sh (the API doc's curl example) once for one file")
	fs.StringVar(&c.store, "store", "auto", "emulator storage: mem, disk, or auto (disk from 256 MiB in all)")
	fs.DurationVar(&c.latency, "latency", 0, "emulator latency added to every request (a stand-in for network round trips)")
	fs.StringVar(&c.dir, "dir", "", "work folder (default: a new temporary folder, removed afterwards)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work folder")
	fs.StringVar(&c.desksync, "desksync", "", "use this desksync binary instead of building one from the current module")
	fs.Uint64Var(&c.seed, "seed", 1, "seed for file contents and the size mix")
	fs.StringVar(&c.seriesFlag, "series", "", "comma-separated file counts, e.g. 1000,4000,10000: one apply each, and a table of bytes written against the state's size")
	fs.BoolVar(&c.sandbox, "sandbox", false, "run \"desksync apply --sandbox\" (its own embedded emulator, whose writes then count as desksync's) instead of against the bench's emulator")
	return fs
}

// finish checks and derives the fields that flags cannot parse themselves.
func (c *config) finish() error {
	var err error
	if c.size, err = plan.ParseSize(c.sizeFlag); err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	if c.oneFlag != "" {
		if c.size, err = plan.ParseSize(c.oneFlag); err != nil {
			return fmt.Errorf("-one: %w", err)
		}
		c.files = 1
	}
	if c.seriesFlag != "" {
		if c.series, err = parseSeries(c.seriesFlag); err != nil {
			return fmt.Errorf("-series: %w", err)
		}
		c.files = slices.Max(c.series)
	}
	if c.rateFlag != "" {
		if c.rate, err = parseRate(c.rateFlag); err != nil {
			return fmt.Errorf("-rate: %w", err)
		}
	}
	switch {
	case c.files < 1:
		return errors.New("-files must be at least 1")
	case c.rounds < 1:
		return errors.New("-rounds must be at least 1")
	case c.parallelism < 1:
		return errors.New("-parallelism must be at least 1")
	case c.mix && c.oneFlag != "":
		return errors.New("-mix and -one exclude each other")
	case c.series != nil && (c.oneFlag != "" || c.compare || c.rounds > 1):
		return errors.New("-series runs each count once: it excludes -one, -compare and -rounds")
	case c.sandbox && (c.rateFlag != "" || c.latency > 0 || c.oneFlag != ""):
		return errors.New("-sandbox uses desksync's own emulator: it excludes -rate, -latency and -one")
	case c.sequential && c.compare:
		return errors.New("-sequential and -compare exclude each other (-compare runs both)")
	}
	if c.sequential {
		c.parallelism = 1
	}
	switch c.store {
	case "auto", "mem", "disk":
	default:
		return fmt.Errorf("-store %q: want mem, disk or auto", c.store)
	}
	return nil
}

// parseSeries reads "1000,4000,10000".
func parseSeries(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a list of file counts like 1000,4000,10000", s)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

// rateLimit is the emulator's limit: requests per window.
type rateLimit struct {
	requests int
	window   time.Duration
}

func (r rateLimit) String() string { return fmt.Sprintf("%d/%v", r.requests, r.window) }

// parseRate reads "20/2s" or "120/1m".
func parseRate(s string) (rateLimit, error) {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	var r rateLimit
	if ok {
		_, err := fmt.Sscanf(n, "%d", &r.requests)
		if err == nil {
			if !strings.ContainsAny(w, "0123456789") {
				w = "1" + w // "120/m"
			}
			r.window, err = time.ParseDuration(w)
		}
		if err == nil && r.requests > 0 && r.window > 0 && fmt.Sprint(r.requests) == strings.TrimSpace(n) {
			return r, nil
		}
	}
	return rateLimit{}, fmt.Errorf("%q is not REQUESTS/WINDOW like 20/2s or 120/1m", s)
}
