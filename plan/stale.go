package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

// ErrStale matches every *StaleError with errors.Is.
var ErrStale = errors.New("saved plan is stale")

// StaleError says why a saved plan can no longer be applied: the state or the local
// files moved on since it was made, so applying it would act on a world that is gone.
type StaleError struct {
	Reason string
}

func (e *StaleError) Error() string { return "saved plan is stale: " + e.Reason }

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Hint tells the user how to get a plan that can be applied.
func (e *StaleError) Hint() string { return `run "desksync plan --out FILE" again` }

// staleListMax is how many addresses a StaleError names before "and N more".
const staleListMax = 3

// CheckStale returns a *StaleError when p no longer matches the current state (nil
// when none exists) or manifest, within p.Scope: the state's lineage or serial changed, a state now
// exists where the plan was made without one (Terraform #24078), or a file was added,
// removed, changed or given other attributes. It hashes every file (as Compute does)
// only after the cheap checks pass.
func CheckStale(ctx context.Context, p *Plan, m *manifest.Manifest, st *state.State) error {
	m = p.Scope.planned(m, st)
	switch {
	case !p.StateExists && st != nil:
		return &StaleError{Reason: "a state now exists (the plan was made without one)"}
	case p.StateExists && st == nil:
		return &StaleError{Reason: "the state it was made from no longer exists"}
	case st != nil && st.Lineage != p.Lineage:
		return &StaleError{Reason: fmt.Sprintf("state lineage changed (%s -> %s)", p.Lineage, st.Lineage)}
	case st != nil && st.Serial != p.Serial:
		return &StaleError{Reason: fmt.Sprintf("state serial changed (%d -> %d)", p.Serial, st.Serial)}
	}

	now := make(map[string]bool, len(m.Entries))
	var added []string
	for _, e := range m.Entries {
		now[e.Address] = true
		if _, ok := p.Files[e.Address]; !ok {
			added = append(added, e.Address)
		}
	}
	var removed []string
	for addr := range p.Files {
		if !now[addr] {
			removed = append(removed, addr)
		}
	}
	var reasons []string
	if len(removed) > 0 {
		reasons = append(reasons, describe(removed, "was removed from the manifest", "were removed from the manifest"))
	}
	if len(added) > 0 {
		reasons = append(reasons, "the manifest now has files the plan did not: "+list(added))
	}
	if len(reasons) > 0 {
		return &StaleError{Reason: strings.Join(reasons, "; ")}
	}

	digests, err := Hash(ctx, m, 0)
	if err != nil {
		return err
	}
	var changed []string
	for addr, d := range digests {
		if p.Files[addr] != d {
			changed = append(changed, addr)
		}
	}
	if len(changed) > 0 {
		return &StaleError{Reason: describe(changed, "changed since the plan", "changed since the plan")}
	}
	// Older plans (or hand-built ones) carry no digest; there is nothing to compare.
	if p.ManifestDigest != "" && manifestDigest(m) != p.ManifestDigest {
		return &StaleError{Reason: "the manifest changed since the plan (the filename, disposition, type or mimeType " +
			"of an entry" + attrsChanged(p, m) + ")"}
	}
	return nil
}

// attrsChanged names the first changed address it can see, from the plan's changes.
func attrsChanged(p *Plan, m *manifest.Manifest) string {
	for _, e := range m.Entries {
		i, ok := slices.BinarySearchFunc(p.Changes, e.Address, func(c Change, a string) int { return strings.Compare(c.Address, a) })
		if !ok || p.Changes[i].After == nil {
			continue
		}
		a := p.Changes[i].After
		if a.Filename != e.Filename || a.Disposition != e.Disposition || a.Type != e.Type || a.MimeType != e.MimeType {
			return ", e.g. " + e.Address
		}
	}
	return ""
}

// describe writes "file a changed …" or "files a, b, c and 2 more changed …".
func describe(addrs []string, one, many string) string {
	if len(addrs) == 1 {
		return "file " + addrs[0] + " " + one
	}
	return "files " + list(addrs) + " " + many
}

// list sorts addrs and names the first few.
func list(addrs []string) string {
	slices.Sort(addrs)
	if len(addrs) <= staleListMax {
		return strings.Join(addrs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(addrs[:staleListMax], ", "), len(addrs)-staleListMax)
}
