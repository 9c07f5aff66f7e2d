package command

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/internal/refresh"
)

type refreshCmd struct {
	Parallelism int           `default:"4" help:"Desk reads at once."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
	connFlags
}

func (c *refreshCmd) Help() string {
	return `Reads every tracked file from Desk (GET) and records what changed there in the state
file, so the next plan puts it back: a file deleted on Desk is forgotten (plan creates it
again); a filename or disposition changed on Desk is recorded (plan updates it back); a size
changed on Desk marks the content as unknown (plan replaces it). Prints what drifted. The
state is written only when something drifted; the previous one is kept as <state>.backup.
"desksync plan --refresh" shows the same without writing anything.

Exit status: 0 success, 1 error (nothing is recorded unless every file could be read).`
}

func (c *refreshCmd) Validate() error { return checkParallelism(c.Parallelism) }

func (c *refreshCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	e, err := openEnv(g, c.Sandbox, nil)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.begin(ctx, t, &c.connFlags, "refresh", c.LockTimeout); err != nil {
		return err
	}
	if e.state == nil {
		return hint.New(fmt.Sprintf("no state file at %s: nothing is tracked, so there is nothing to refresh", e.store.Path()), `run "desksync apply" to upload the manifest's files, or "desksync import ADDRESS FILE_ID" to adopt files already on Desk`)
	}
	rep, err := refresh.Run(ctx, e.state, e.client, c.Parallelism)
	if err != nil {
		return err
	}
	if len(rep.Drift) > 0 {
		if err := e.store.Save(ctx, rep.State); err != nil {
			return err
		}
	}
	printDrift(t.stdout, rep)
	return nil
}

// printDrift writes refresh's summary: what drifted, by address, and what was recorded.
func printDrift(w io.Writer, rep *refresh.Report) {
	if len(rep.Drift) == 0 {
		fmt.Fprintf(w, "Refreshed %s from Desk: no drift. The state is unchanged.\n", files(rep.Checked))
		return
	}
	addrs := map[string]bool{}
	for _, d := range rep.Drift {
		addrs[d.Address] = true
	}
	fmt.Fprintf(w, "Refreshed %s from Desk: %d drifted.\n\n", files(rep.Checked), len(addrs))
	for _, d := range rep.Drift {
		fmt.Fprintf(w, "  %s (file %d): %s\n", quote.Text(d.Address), d.ID, quote.Line(d.String()))
	}
	fmt.Fprintf(w, "\nRecorded in the state (serial %d). Run \"desksync plan\" to see how apply puts the manifest's files back.\n", rep.State.Serial)
}

func files(n int) string {
	if n == 1 {
		return "1 tracked file"
	}
	return fmt.Sprintf("%d tracked files", n)
}
