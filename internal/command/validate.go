package command

import (
	"fmt"

	"github.com/desksync/desksync/internal/quote"
)

type validateCmd struct{}

func (c *validateCmd) Help() string {
	return `Decodes the manifest strictly, expands its globs and checks every path (containment,
existence, duplicates). Reads no state and uses no network.

Exit status: 0 valid, 1 invalid (every problem is listed with file:line:column).`
}

func (c *validateCmd) Run(g *Globals, t *terminal) error {
	m, err := g.loadManifest()
	if err != nil {
		return err
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(t.stderr, "desksync: warning: %s\n", quote.Lines(w.Error()))
		if h := w.Hint(); h != "" {
			fmt.Fprintf(t.stderr, "desksync: hint: %s\n", quote.Lines(h))
		}
	}
	fmt.Fprintf(t.stdout, "%s is valid: %d attachments.\n", g.Manifest, len(m.Entries))
	return nil
}
