package refresh

import (
	"context"
	"fmt"
	"io"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"golang.org/x/sync/errgroup"
)

// Diffs fills in the Diff of every Update and Replace in p whose content is text, for
// `plan --diff`: it GETs the Desk file for its downloadURL, downloads at most
// plan.MaxDiffSize bytes, reads the local file through m, and diffs the two (Desk
// first, as "before"). Where no diff can be shown, it adds a note to the change's
// Reasons instead: plan.NoteBinary or plan.NoteLarge (for a replace only: an update
// keeps the content), or that the file is gone from Desk. At most parallelism files (0: DefaultParallelism) are fetched at once. A
// failed read is an error naming the address.
func Diffs(ctx context.Context, d Desk, p *plan.Plan, m *manifest.Manifest, parallelism int) error {
	if parallelism <= 0 {
		parallelism = DefaultParallelism
	}
	entries := make(map[string]manifest.Entry, len(m.Entries))
	for _, e := range m.Entries {
		entries[e.Address] = e
	}
	errs := make([]error, len(p.Changes))
	var g errgroup.Group
	g.SetLimit(parallelism)
	for i := range p.Changes {
		c := &p.Changes[i]
		if (c.Action != plan.Update && c.Action != plan.Replace) || c.Before == nil || c.After == nil {
			continue
		}
		e, ok := entries[c.Address]
		if !ok {
			errs[i] = fmt.Errorf("diff %s: the manifest has no entry for this address", c.Address)
			continue
		}
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return nil
			}
			diff, note, err := contentDiff(ctx, d, m, e, c)
			if err != nil {
				errs[i] = &DiffError{Address: c.Address, ID: c.Before.ID, Err: err}
				return nil
			}
			c.Diff = diff
			// An update leaves the content as it is, so that it cannot be diffed is
			// no news; only a replace says so.
			unchanged := c.Action == plan.Update && (note == plan.NoteBinary || note == plan.NoteLarge)
			if note != "" && !unchanged {
				c.Reasons = append(c.Reasons, note)
			}
			return nil
		})
	}
	_ = g.Wait() // every outcome is in errs
	for _, err := range errs {
		if err != nil {
			return err // the first by address: Changes are sorted
		}
	}
	return nil
}

// contentDiff fetches and diffs one change; see Diffs.
func contentDiff(ctx context.Context, d Desk, m *manifest.Manifest, e manifest.Entry, c *plan.Change) (diff, note string, err error) {
	if note := plan.DiffSkip(c.After.MimeType, 0, c.After.Size); note != "" {
		return "", note, nil // decided without a request
	}
	f, err := d.GetFile(ctx, c.Before.ID)
	switch {
	case err != nil && desk.IsNotFound(err):
		return "", fmt.Sprintf("file %d is gone from Desk, not diffed (plan --refresh plans it again)", c.Before.ID), nil
	case err != nil:
		return "", "", err
	case f.State != "active" || f.DownloadURL == "":
		return "", fmt.Sprintf("file %d is not active on Desk, not diffed", c.Before.ID), nil
	}
	if note := plan.DiffSkip(c.After.MimeType, f.Size, c.After.Size); note != "" {
		return "", note, nil
	}
	remote, err := d.Download(ctx, f.DownloadURL, plan.MaxDiffSize)
	if err != nil {
		return "", "", err
	}
	local, err := readLocal(m, e)
	if err != nil {
		return "", "", err
	}
	diff, note = plan.ContentDiff(
		fmt.Sprintf("desk/%s (file %d)", c.Address, c.Before.ID),
		"local/"+c.Address, remote, local)
	return diff, note, nil
}

// readLocal reads e's file, at most one byte over plan.MaxDiffSize (enough for
// ContentDiff to see it is too large), through the manifest's contained Open.
func readLocal(m *manifest.Manifest, e manifest.Entry) ([]byte, error) {
	f, err := m.Open(e)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, plan.MaxDiffSize+1))
}

// DiffError is a change whose live content could not be fetched for its diff.
type DiffError struct {
	Address string
	ID      int64
	Err     error
}

func (e *DiffError) Error() string {
	return fmt.Sprintf("diff %s (Desk file %d): %v", e.Address, e.ID, e.Err)
}

func (e *DiffError) Unwrap() error { return e.Err }

// Hint is the cause's own remedy, or how to plan without diffs.
func (e *DiffError) Hint() string {
	if hs := hint.Of(e.Err); len(hs) > 0 {
		return hs[0]
	}
	return "run plan without --diff to see the plan without content diffs"
}
