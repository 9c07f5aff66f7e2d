package command

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/internal/refresh"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

type importCmd struct {
	Address     string        `arg:"" help:"The manifest address to adopt the file for, e.g. images/logo.png."`
	FileID      int64         `arg:"" name:"FILE_ID" help:"The Desk file's ID (the 123 of /desk/api/v2/files/123.json)."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
	connFlags
}

func (c *importCmd) Help() string {
	return `Records an existing, active Desk file as the attachment of ADDRESS, which must be in the
manifest and not yet tracked, so desksync manages it from now on instead of uploading a
copy (for example after a state file was lost, or for files uploaded by hand). The
record holds what Desk reports, so the next plan updates or replaces whatever differs
from the manifest: when the size on Desk differs from the local file's, the content is
unknown and the next apply replaces the file. Nothing on Desk changes.

Exit status: 0 success, 1 error (nothing is recorded).`
}

func (c *importCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	en, err := openEnv(g, c.Sandbox, nil)
	if err != nil {
		return err
	}
	defer en.close()
	e, err := findEntry(en.manifest, c.Address)
	if err != nil {
		return err
	}
	digest, err := hashEntry(ctx, en.manifest, e)
	if err != nil {
		return err
	}
	if err := en.begin(ctx, t, &c.connFlags, "import", c.LockTimeout); err != nil {
		return err
	}
	st := en.state
	if st == nil {
		st = state.New(en.site)
	}
	a, err := refresh.Import(ctx, st, en.client, e, c.FileID, digest, time.Now())
	if err != nil {
		return err
	}
	if err := en.store.Save(ctx, st); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Imported Desk file %d (%s) as %s.\n", a.ID, quote.Text(a.Filename), quote.Text(e.Address))
	if a.Blake3 == refresh.UnknownBlake3 {
		fmt.Fprintf(t.stdout, "Its size on Desk (%s) differs from the local file's (%s): the next apply replaces it.\n",
			plan.FormatSize(a.Size), plan.FormatSize(digest.Size))
	}
	fmt.Fprintln(t.stdout, `Run "desksync plan" to see what, if anything, differs from the manifest.`)
	return nil
}

// findEntry returns the manifest entry for address, accepting "./x" and OS separators.
func findEntry(m *manifest.Manifest, address string) (manifest.Entry, error) {
	want := path.Clean(filepath.ToSlash(address))
	for _, e := range m.Entries {
		if e.Address == want {
			return e, nil
		}
	}
	return manifest.Entry{}, hint.New(fmt.Sprintf("%s is not an address in %s", address, m.Path), "import adopts a file for an entry the manifest already lists: add it to the manifest first (addresses are paths relative to the manifest's folder)")
}

// hashEntry is the size and blake3 of e's local file.
func hashEntry(ctx context.Context, m *manifest.Manifest, e manifest.Entry) (plan.FileDigest, error) {
	one := *m
	one.Entries = []manifest.Entry{e}
	digests, err := plan.Hash(ctx, &one, 1)
	if err != nil {
		return plan.FileDigest{}, err
	}
	return digests[e.Address], nil
}
