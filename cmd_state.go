package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/desksync/desksync/state"
)

type stateCmd struct {
	List stateListCmd `cmd:"" help:"List every tracked address with its Desk file ID, size and hash."`
	Show stateShowCmd `cmd:"" help:"Show everything the state records for one address."`
	Rm   stateRmCmd   `cmd:"" help:"Forget an address without deleting its Desk file."`

	Merge stateMergeCmd `cmd:"" help:"Merge two branches' state files (git's merge driver)."`
	Pull  statePullCmd  `cmd:"" help:"Print the state, from a file or S3, to stdout."`
	Push  statePushCmd  `cmd:"" help:"Write a state file to the configured state location (e.g. S3), under the lock."`
}

type stateListCmd struct {
	Sandbox bool `help:"Use the sandbox's state in .desksync/sandbox/."`
}

func (c *stateListCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	st, _, err := readState(ctx, g, c.Sandbox)
	if err != nil || st == nil {
		return err
	}
	w := tabwriter.NewWriter(t.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ADDRESS\tID\tSIZE\tBLAKE3")
	for _, addr := range st.Addresses() {
		a := st.Attachments[addr]
		fmt.Fprintf(w, "%s\t%d\t%d\t%.12s\n", addr, a.ID, a.Size, a.Blake3)
	}
	for _, addr := range slices.Sorted(maps.Keys(st.Pending)) {
		fmt.Fprintf(w, "%s\t%d\t-\t(interrupted upload, to clean up)\n", addr, st.Pending[addr].ID)
	}
	for _, d := range st.Deposed {
		fmt.Fprintf(w, "%s\t%d\t-\t(deposed, to delete)\n", d.Address, d.ID)
	}
	return w.Flush()
}

type stateShowCmd struct {
	Address string `arg:"" help:"The address, e.g. images/logo.png."`
	Sandbox bool   `help:"Use the sandbox's state in .desksync/sandbox/."`
}

func (c *stateShowCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	st, path, err := readState(ctx, g, c.Sandbox)
	if err != nil {
		return err
	}
	if st == nil || st.Attachments[c.Address] == nil {
		return notTracked(c.Address, path)
	}
	out, err := json.MarshalIndent(st.Attachments[c.Address], "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "%s\n", out)
	return nil
}

type stateRmCmd struct {
	Address     string        `arg:"" help:"The address to forget."`
	Sandbox     bool          `help:"Use the sandbox's state in .desksync/sandbox/."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
}

func (c *stateRmCmd) Help() string {
	return `Removes ADDRESS from the state; its Desk file is left alone. The next plan shows the
address as a create if the manifest still lists it. The previous state is kept as <state>.backup.`
}

func (c *stateRmCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	ws, err := openWorkspace(g, c.Sandbox)
	if err != nil {
		return err
	}
	unlock, err := lock(ctx, t, ws.store, "state rm", c.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := ws.loadState(ctx)
	if err != nil {
		return err
	}
	if st == nil || st.Attachments[c.Address] == nil {
		return notTracked(c.Address, ws.store.Path())
	}
	id := st.Attachments[c.Address].ID
	st.Forget(c.Address)
	if err := ws.store.Save(ctx, st); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Removed %s (Desk file %d) from the state; the file on Desk was not touched.\n", c.Address, id)
	return nil
}

// readState loads the workspace's state for the read-only state commands.
func readState(ctx context.Context, g *Globals, sandbox bool) (*state.State, string, error) {
	ws, err := openWorkspace(g, sandbox)
	if err != nil {
		return nil, "", err
	}
	st, err := ws.loadState(ctx)
	return st, ws.store.Path(), err
}

func notTracked(address, statePath string) error {
	return hinted{
		msg:  fmt.Sprintf("%s is not tracked in %s", address, statePath),
		hint: `run "desksync state list" to see the tracked addresses`,
	}
}

type forceUnlockCmd struct {
	LockID  string `arg:"" name:"LOCK_ID" help:"The lock's ID, as printed by the command that found it locked."`
	Force   bool   `help:"Remove the lock even though its holder's pid is alive on this host."`
	Sandbox bool   `help:"Unlock the sandbox's state in .desksync/sandbox/."`
}

func (c *forceUnlockCmd) Help() string {
	return `Removes <state>.lock if its ID is LOCK_ID. Only for a lock left by a run that is no
longer running: removing a live run's lock lets two runs write the state at once. When
the lock names this host and its pid is still running, force-unlock refuses unless
--force is given (for a pid that now belongs to another program).`
}

func (c *forceUnlockCmd) Run(g *Globals, t *terminal) error {
	ws, err := openWorkspace(g, c.Sandbox)
	if err != nil {
		return err
	}
	if err := ws.store.ForceUnlock(c.LockID, c.Force); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Lock %s removed; the state is unlocked.\n", c.LockID)
	return nil
}
