package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/desksync/desksync/state"
)

// saveBench measures what apply pays after every finished action: one state.File.Save
// (encode, write a temp file, fsync, link the backup, rename, fsync the folder) of a
// state tracking n attachments, next to Encode alone, so the two costs can be told
// apart. It writes into dir, which should be on the disk the state file lives on.
func saveBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench save", flag.ContinueOnError)
	fs.SetOutput(stderr)
	entries := fs.Int("entries", 1000, "attachments in the state")
	rounds := fs.Int("n", 200, "saves to time")
	dir := fs.String("dir", "", "folder for the state file (default: a new temporary folder)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *entries < 0 || *rounds < 1 {
		fmt.Fprintln(stderr, "bench save: -entries must be at least 0 and -n at least 1")
		return 2
	}
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "desksync-bench-save-"); err != nil {
			fmt.Fprintf(stderr, "bench save: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
	}
	s := state.New("https://example.teamwork.com")
	for i := range *entries {
		s.Activate(fmt.Sprintf("files/f%05d.bin", i), state.Attachment{ID: int64(100000 + i),
			Filename: fmt.Sprintf("f%05d.bin", i), MimeType: "application/octet-stream", Disposition: "attachment",
			Type: "attachment", Size: 4096, Blake3: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
			State: "active", UploadedAt: time.Now().UTC()})
	}
	f := state.NewFile(filepath.Join(d, "desksync.state.json"))
	ctx := context.Background()
	if err := f.Save(ctx, s); err != nil { // the first save creates the file; not timed
		fmt.Fprintf(stderr, "bench save: %v\n", err)
		return 1
	}
	start := time.Now()
	for range *rounds {
		if err := f.Save(ctx, s); err != nil {
			fmt.Fprintf(stderr, "bench save: %v\n", err)
			return 1
		}
	}
	save := time.Since(start) / time.Duration(*rounds)
	start = time.Now()
	var size int
	for range *rounds {
		data, err := s.Encode()
		if err != nil {
			fmt.Fprintf(stderr, "bench save: %v\n", err)
			return 1
		}
		size = len(data)
	}
	enc := time.Since(start) / time.Duration(*rounds)
	start = time.Now()
	for range *rounds {
		_ = s.Clone()
	}
	clone := time.Since(start) / time.Duration(*rounds)
	fmt.Fprintf(stdout, "state of %d attachments (%s): Save %v, of which Encode %v; the rest (write, fsync, backup link, rename, folder fsync) %v; Clone (apply's group commit) %v\n",
		*entries, human(int64(size)), save.Round(time.Microsecond), enc.Round(time.Microsecond),
		(save - enc).Round(time.Microsecond), clone.Round(time.Microsecond))
	return 0
}
