package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/state"
)

// statePullCmd prints the state, wherever it lives.
type statePullCmd struct{}

func (c *statePullCmd) Help() string {
	return `Prints the state (from the state file or from S3, after replaying any journal) to
stdout in the state file format, e.g. to keep a copy or to migrate it:
desksync --state s3://BUCKET/KEY state pull > desksync.state.json`
}

func (c *statePullCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	e, err := openEnv(g, false, nil)
	if err != nil {
		return err
	}
	st, err := e.store.Load(ctx)
	if errors.Is(err, state.ErrNotExist) {
		return hint.Wrap(fmt.Errorf("no state at %s", e.store.Path()), "check --state (or DESKSYNC_STATE, or state: in the manifest); nothing has been applied there yet")
	}
	if err != nil {
		return err
	}
	data, err := st.Encode()
	if err != nil {
		return err
	}
	_, err = t.stdout.Write(data)
	return err
}

// statePushCmd writes a state file to the configured location.
type statePushCmd struct {
	File        string        `arg:"" name:"FILE" help:"The state file to push."`
	Force       bool          `help:"Replace a state of another lineage, or one that is not older than FILE."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
}

func (c *statePushCmd) Help() string {
	return `Writes FILE's state to the configured location (--state, DESKSYNC_STATE or state: in the
manifest) under the state lock: how a state moves from git to S3. Where no state exists
yet, FILE is written as it is. A state already there is replaced only when it has FILE's
lineage and a lower serial, unless --force is given (the serial then moves past both).`
}

func (c *statePushCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	st, err := readStateFile(c.File, "FILE")
	if err != nil {
		return err
	}
	e, err := openEnv(g, false, nil)
	if err != nil {
		return err
	}
	unlock, err := lock(ctx, t, e.store, "state push", c.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	there, err := e.store.Load(ctx)
	switch {
	case errors.Is(err, state.ErrNotExist):
		err = e.store.Compact(ctx, st)
	case err != nil:
		return err
	case there.Lineage == st.Lineage && there.Serial < st.Serial:
		err = e.store.Compact(ctx, st)
	case !c.Force && there.Lineage != st.Lineage:
		return hint.New(fmt.Sprintf("%s holds another state (lineage %s) than %s (lineage %s); not replacing it", e.store.Path(), there.Lineage, c.File, st.Lineage),
			"run \"desksync state pull\" to look at it first; --force replaces it")
	case !c.Force:
		return hint.New(fmt.Sprintf("%s is at serial %d, not older than %s (serial %d); not replacing it", e.store.Path(), there.Serial, c.File, st.Serial),
			"run \"desksync state pull\" to look at it first; --force replaces it")
	default:
		st.Serial = max(st.Serial, there.Serial)
		err = e.store.Save(ctx, st)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Pushed %s (serial %d) to %s.\n", c.File, st.Serial, e.store.Path())
	return nil
}

// stateMergeCmd is git's merge driver for the committed state (docs/team.md).
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
		fmt.Fprintf(t.stderr, "desksync: state merge: %s\n", quote.Line(n))
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
			"the state was not merged and OURS is unchanged; keep one side (git checkout --ours or --theirs) and import or delete on Desk the files only the other side records")
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
