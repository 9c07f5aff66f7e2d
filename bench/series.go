package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// series runs one apply for each count of -series, on the first files of set, and
// prints a table of what each wrote against the size of the state it left: a cost
// linear in the files keeps the ratio flat as the count grows.
func series(ctx context.Context, cfg config, bin string, set *fileSet, dir string, w io.Writer) error {
	var reports []*report
	for i, n := range cfg.series {
		work := filepath.Join(dir, fmt.Sprintf("series%d-%d", i+1, n))
		rep, err := applyOnce(ctx, cfg, bin, set.first(n), work, cfg.parallelism)
		if rep != nil {
			fmt.Fprintf(w, "%d files: wall %v, desksync CPU %v, wrote %s, state %s\n", n, rep.wall.Round(time.Millisecond),
				rep.cpu.Round(time.Millisecond), human(rep.written), human(rep.stateSize))
			reports = append(reports, rep)
		}
		if err != nil {
			return err
		}
		if !cfg.keep {
			_ = os.RemoveAll(work)
		}
	}
	mode := fmt.Sprintf("against the bench's emulator, --parallelism %d", cfg.parallelism)
	if cfg.sandbox {
		mode = fmt.Sprintf("desksync apply --sandbox, --parallelism %d: bytes written include the emulator's", cfg.parallelism)
	}
	if cfg.latency > 0 {
		mode += fmt.Sprintf(", latency %v", cfg.latency)
	}
	if cfg.rate.requests > 0 {
		mode += fmt.Sprintf(", rate limit %v", cfg.rate)
	}
	fmt.Fprintf(w, "\n%s, files of %s\n\n", mode, set.describe())
	fmt.Fprintln(w, "| files | final state | desksync wrote | wrote / state | desksync CPU | CPU / first row's | wall | serial per file |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range reports {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %v | %.1fx | %v | %.2f |\n", r.files, human(r.stateSize), human(r.written), r.ratio(),
			r.cpu.Round(10*time.Millisecond), r.cpu.Seconds()/reports[0].cpu.Seconds(), r.wall.Round(10*time.Millisecond),
			float64(r.serial)/float64(r.files))
	}
	return nil
}
