package main

import (
	"context"
	"fmt"

	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/view"
)

type planCmd struct {
	Out              string `placeholder:"FILE" help:"Save the plan to FILE, for \"desksync apply FILE\"."`
	Format           string `enum:"text,json,markdown" default:"text" help:"Output format: text, json or markdown."`
	DetailedExitcode bool   `name:"detailed-exitcode" help:"Exit 2 when there are changes (0: none, 1: error)."`
	MaxDelete        string `name:"max-delete" placeholder:"N|P%" help:"Deletes allowed before the mass-delete warning (default 30% once 10 or more are tracked)."`
	Sandbox          bool   `help:"Plan against the sandbox's state in .desksync/sandbox/."`
}

func (c *planCmd) Help() string {
	return `Compares the manifest (every file hashed with BLAKE3) with the state file and prints
what apply would do. Works offline and needs no credentials.

Exit status: 0 success (with --detailed-exitcode: no changes), 1 error,
2 with --detailed-exitcode when there are changes.`
}

func (c *planCmd) Run(g *Globals, t *terminal, ctx context.Context) error {
	limit, err := deleteLimit(c.MaxDelete)
	if err != nil {
		return err
	}
	ws, err := openWorkspace(g, c.Sandbox)
	if err != nil {
		return err
	}
	st, err := ws.loadState(ctx)
	if err != nil {
		return err
	}
	p, err := plan.Compute(ctx, ws.manifest, st, plan.Options{DeleteLimit: limit})
	if err != nil {
		return err
	}
	if c.Out != "" {
		if err := plan.Write(c.Out, p); err != nil {
			return err
		}
	}
	if err := view.RenderPlan(t.stdout, p, c.Format, view.PlanOptions{Color: g.color(t)}); err != nil {
		return err
	}
	if c.Out != "" && c.Format == "text" {
		fmt.Fprintf(t.stdout, "\nSaved the plan to %s. To perform exactly these actions, run:\n  desksync apply %s\n", c.Out, c.Out)
	}
	if c.DetailedExitcode && p.HasChanges() {
		return exitCode(2)
	}
	return nil
}

// deleteLimit reads --max-delete; empty means the default guard.
func deleteLimit(flag string) (plan.DeleteLimit, error) {
	if flag == "" {
		return plan.DefaultDeleteLimit(), nil
	}
	return plan.ParseDeleteLimit(flag)
}
