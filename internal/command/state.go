package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

type stateCmd struct {
	List stateListCmd `cmd:"" help:"List every tracked address with its Desk file ID, size and hash (--format json: the address to Desk file map)."`
	Show stateShowCmd `cmd:"" help:"Show everything the state records for one address."`
	Rm   stateRmCmd   `cmd:"" help:"Forget an address without deleting its Desk file."`
	Mv   stateMvCmd   `cmd:"" help:"Record an address's Desk file under another address (no Desk call)."`

	Merge stateMergeCmd `cmd:"" help:"Merge two branches' state files (git's merge driver)."`
	Pull  statePullCmd  `cmd:"" help:"Print the state, from a file or S3, to stdout."`
	Push  statePushCmd  `cmd:"" help:"Write a state file to the configured state location (e.g. S3), under the lock."`
}

type stateListCmd struct {
	Format  string `enum:"text,json" default:"text" help:"Output format: text, or json (the address to Desk file map other tools read)."`
	Sandbox bool   `help:"Use the sandbox's state in .desksync/sandbox/."`
}

func (c *stateListCmd) Help() string {
	return `Lists every tracked address. --format json writes the map from address to Desk file
that other tools (an article pipeline embedding attachment links) read:

  {"attachments":{"images/logo.png":{"id":123,"filename":"logo.png","mimeType":"image/png",
    "disposition":"attachment","type":"attachment","size":14358,"blake3":"…"}}}

Interrupted uploads and deposed files are not in it: they are not files to link to.`
}

// listedFile is one attachment in "state list --format json" (docs/state-format.md): what a link to
// it needs, without desksync's bookkeeping.
type listedFile struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
	Type        string `json:"type"`
	Size        int64  `json:"size"`
	Blake3      string `json:"blake3"`
}

func (c *stateListCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	st, _, err := readState(ctx, g, c.Sandbox)
	if err != nil {
		return err
	}
	if c.Format == "json" {
		return writeFileMap(t.stdout, st)
	}
	if st == nil {
		return nil
	}
	// Addresses come from manifests and may hold anything a file name can; quote
	// them as plan does, so none can drive the terminal.
	w := tabwriter.NewWriter(t.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ADDRESS\tID\tSIZE\tBLAKE3")
	for _, addr := range st.Addresses() {
		a := st.Attachments[addr]
		fmt.Fprintf(w, "%s\t%d\t%d\t%.12s\n", quote.Text(addr), a.ID, a.Size, quote.Text(a.Blake3))
	}
	for _, addr := range slices.Sorted(maps.Keys(st.Pending)) {
		fmt.Fprintf(w, "%s\t%d\t-\t(interrupted upload, to clean up)\n", quote.Text(addr), st.Pending[addr].ID)
	}
	for _, d := range st.Deposed {
		fmt.Fprintf(w, "%s\t%d\t-\t(deposed, to delete)\n", quote.Text(d.Address), d.ID)
	}
	return w.Flush()
}

// writeFileMap writes the address to Desk file map; an absent state is an empty map,
// so a consumer never has to tell "no state yet" from an error.
func writeFileMap(w io.Writer, st *state.State) error {
	doc := struct {
		Attachments map[string]listedFile `json:"attachments"`
	}{Attachments: map[string]listedFile{}}
	if st != nil {
		for addr, a := range st.Attachments {
			doc.Attachments[addr] = listedFile{ID: a.ID, Filename: a.Filename, MimeType: a.MimeType,
				Disposition: a.Disposition, Type: a.Type, Size: a.Size, Blake3: a.Blake3}
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", quote.JSON(out))
	return err
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
		return notTracked(g, c.Sandbox, c.Address, path)
	}
	out, err := json.MarshalIndent(st.Attachments[c.Address], "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "%s\n", quote.JSON(out))
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
	e, err := openEnv(g, c.Sandbox, nil)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.lock(ctx, t, "state rm", c.LockTimeout); err != nil {
		return err
	}
	st := e.state
	if st == nil || st.Attachments[c.Address] == nil {
		return notTracked(g, c.Sandbox, c.Address, e.store.Path())
	}
	id := st.Attachments[c.Address].ID
	st.Forget(c.Address)
	if err := e.store.Save(ctx, st); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Removed %s (Desk file %d) from the state; the file on Desk was not touched.\n", quote.Text(c.Address), id)
	return nil
}

type stateMvCmd struct {
	Old         string        `arg:"" name:"OLD" help:"The tracked address."`
	New         string        `arg:"" name:"NEW" help:"The address to record its Desk file under."`
	Sandbox     bool          `help:"Use the sandbox's state in .desksync/sandbox/."`
	LockTimeout time.Duration `name:"lock-timeout" default:"0s" help:"How long to wait for another run's state lock."`
}

func (c *stateMvCmd) Help() string {
	return `Re-keys the state record of OLD to NEW, keeping its Desk file and ID; nothing is sent
to Desk. plan finds a rename by itself when the content is unchanged (a move); this is for a
rename that also changed the content, so that the next apply replaces the file under NEW
instead of deleting it and uploading a new one. The previous state is kept as
<state>.backup.`
}

func (c *stateMvCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	if err := checkAddress(c.New); err != nil {
		return err
	}
	e, err := openEnv(g, c.Sandbox, nil)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.lock(ctx, t, "state mv", c.LockTimeout); err != nil {
		return err
	}
	st := e.state
	if st == nil || st.Attachments[c.Old] == nil {
		return notTracked(g, c.Sandbox, c.Old, e.store.Path())
	}
	if st.Pending[c.Old] != nil {
		// Forgetting OLD would lose the record of its temp file on Desk.
		return hint.New(fmt.Sprintf("%s has an interrupted upload still to clean up", quote.Text(c.Old)), fmt.Sprintf(`let apply settle it first: %s`, g.commandLine(c.Sandbox, "apply")))
	}
	if st.Attachments[c.New] != nil || st.Pending[c.New] != nil {
		return hint.New(fmt.Sprintf("%s already has a record in %s", quote.Text(c.New), e.store.Path()), fmt.Sprintf(`to replace it, forget it first: %s`, g.commandLine(c.Sandbox, "state", "rm", c.New)))
	}
	att := *st.Attachments[c.Old]
	st.Forget(c.Old)
	st.Activate(c.New, att)
	if err := e.store.Save(ctx, st); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Moved %s to %s (Desk file %d); nothing was sent to Desk.\n", quote.Text(c.Old), quote.Text(c.New), att.ID)
	if !slices.ContainsFunc(e.manifest.Entries, func(e manifest.Entry) bool { return e.Address == c.New }) {
		fmt.Fprintf(t.stderr, "desksync: warning: the manifest lists no %s, so the next apply deletes Desk file %d\n", quote.Text(c.New), att.ID)
	}
	return nil
}

// checkAddress refuses what no manifest could produce as an address: a state record
// under such a key could never be planned against.
func checkAddress(addr string) error {
	if why := manifest.CheckAddress(addr); why != "" {
		return hint.New(fmt.Sprintf("%s is not an address: a manifest cannot list a file %s", strconv.Quote(addr), why), "write it as the plan shows it, e.g. images/logo.png")
	}
	return nil
}

// readState loads the state for the read-only state commands.
func readState(ctx context.Context, g *Globals, sandbox bool) (*state.State, string, error) {
	e, err := openEnv(g, sandbox, nil)
	if err != nil {
		return nil, "", err
	}
	st, err := e.loadState(ctx)
	return st, e.store.Path(), err
}

func notTracked(g *Globals, sandbox bool, address, statePath string) error {
	return hint.New(fmt.Sprintf("%s is not tracked in %s", quote.Text(address), statePath), fmt.Sprintf(`run "%s" to see the tracked addresses`, g.commandLine(sandbox, "state", "list")))
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
	e, err := openEnv(g, c.Sandbox, nil)
	if err != nil {
		return err
	}
	if err := e.store.ForceUnlock(c.LockID, c.Force); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "Lock %s removed; the state is unlocked.\n", quote.Text(c.LockID))
	return nil
}
