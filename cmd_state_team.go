package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

// stateMergeCmd is git's merge driver for the committed state (SPEC §8).
type stateMergeCmd struct {
	Base   string `arg:"" name:"BASE" help:"The common ancestor's state (git's %O); may be empty."`
	Ours   string `arg:"" name:"OURS" help:"This branch's state (git's %A); the merged state is written here."`
	Theirs string `arg:"" name:"THEIRS" help:"The other branch's state (git's %B)."`
}

func (c *stateMergeCmd) Help() string {
	return `Merges two versions of the state file that git could not merge line by line, and
writes the result into OURS. Configure it as git's merge driver:

  .gitattributes:  desksync.state.json merge=desksync
  git config merge.desksync.driver "desksync state merge %O %A %B"

Per address, a record changed on one side takes that side's. Where both sides uploaded a
different file for one address, OURS's record stays and THEIRS's file is deposed, so the
next apply deletes it from Desk. Interrupted uploads and deposed files of both sides are
kept. One Desk file never ends up on two records: where the sides moved or removed it
differently, OURS's record wins. The serial becomes the larger of the two plus one. Every
such choice is printed on stderr.

EXIT STATUS
  0  merged; OURS holds the result
  1  not merged (different lineage or site, or a side that does not parse); OURS untouched`
}

func (c *stateMergeCmd) Run(t *terminal) error {
	ours, err := readStateFile(c.Ours, "OURS")
	if err != nil {
		return err
	}
	theirs, err := readStateFile(c.Theirs, "THEIRS")
	if err != nil {
		return err
	}
	base, err := readStateFile(c.Base, "BASE")
	if errors.Is(err, errEmptyState) {
		base, err = nil, nil // git passes an empty file when the sides share no ancestor
	}
	if err != nil {
		return err
	}
	merged, notes, err := state.Merge(base, ours, theirs, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", c.Ours, err)
	}
	data, err := merged.Encode()
	if err != nil {
		return err
	}
	if err := replaceFile(c.Ours, data); err != nil {
		return fmt.Errorf("writing the merged state to %s (left as it was): %w", c.Ours, err)
	}
	for _, n := range notes {
		fmt.Fprintf(t.stderr, "desksync: state merge: %s\n", n)
	}
	return nil
}

var errEmptyState = errors.New("empty state file")

// readStateFile decodes the state file at path, one of the merge's sides (named by side in
// errors, with the path and position Decode gives).
func readStateFile(path, side string) (*state.State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", side, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, state.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", side, path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: %s: %w", side, path, errEmptyState)
	}
	s, err := state.Decode(data)
	if err != nil {
		var ce *state.CorruptError
		if errors.As(err, &ce) {
			ce.Path = path
		}
		var ve *state.VersionError
		if errors.As(err, &ve) {
			ve.Path = path
		}
		return nil, hint.Wrap(fmt.Errorf("%s: %w", side, err),
			"the state was not merged and OURS is unchanged; resolve the conflict by hand (git checkout --ours or --theirs), then run \"desksync plan --refresh\"")
	}
	return s, nil
}

// replaceFile writes data to path through a temporary file in the same folder and a
// rename, so that path holds either its old content or all of data.
func replaceFile(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
