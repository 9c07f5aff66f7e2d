package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
)

// Scope limits a plan to some addresses (--target, --exclude). Each pattern is an
// address, a folder (everything under it) or a doublestar glob over addresses.
type Scope struct {
	Target  []string `json:"target,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// NewScope checks every pattern, so that a typo fails before anything is planned
// rather than silently matching nothing.
func NewScope(target, exclude []string) (Scope, error) {
	for _, flag := range []struct {
		name     string
		patterns []string
	}{{"--target", target}, {"--exclude", exclude}} {
		for _, p := range flag.patterns {
			if err := checkPattern(p); err != nil {
				return Scope{}, hint.New(fmt.Sprintf("%s %q: %v", flag.name, p, err),
					`give an address such as images/logo.png, a folder such as images, or a glob such as "images/**/*.png"`)
			}
		}
	}
	return Scope{Target: patterns(target), Exclude: patterns(exclude)}, nil
}

// patterns copies ps, with nil for none, so that every scope of every address is
// the zero Scope.
func patterns(ps []string) []string {
	if len(ps) == 0 {
		return nil
	}
	return slices.Clone(ps)
}

func checkPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty pattern")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("addresses are relative to the manifest's folder, so a pattern cannot start with /")
	case !doublestar.ValidatePattern(p):
		return fmt.Errorf("not a valid glob")
	}
	return nil
}

// Partial reports whether s leaves any address out.
func (s Scope) Partial() bool { return len(s.Target) > 0 || len(s.Exclude) > 0 }

// Match reports whether addr is in scope: it matches a target (or no target is
// given) and no exclude.
func (s Scope) Match(addr string) bool {
	if len(s.Target) > 0 && !slices.ContainsFunc(s.Target, func(p string) bool { return matchPattern(p, addr) }) {
		return false
	}
	return !slices.ContainsFunc(s.Exclude, func(p string) bool { return matchPattern(p, addr) })
}

// matchPattern treats a pattern naming a folder as everything under it, as people
// expect of "--target images".
func matchPattern(p, addr string) bool {
	if ok, _ := doublestar.Match(p, addr); ok {
		return true
	}
	return strings.HasPrefix(addr, strings.TrimSuffix(p, "/")+"/")
}

// manifest returns m limited to s: a copy whenever s is partial.
func (s Scope) manifest(m *manifest.Manifest) *manifest.Manifest {
	if !s.Partial() {
		return m
	}
	scoped := *m
	scoped.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e manifest.Entry) bool { return !s.Match(e.Address) })
	return &scoped
}

// String writes s as the flags that make it, for headers and hints.
func (s Scope) String() string {
	var parts []string
	for _, p := range s.Target {
		parts = append(parts, "--target "+QuoteArg(p))
	}
	for _, p := range s.Exclude {
		parts = append(parts, "--exclude "+QuoteArg(p))
	}
	return strings.Join(parts, " ")
}

// QuoteArg quotes a command-line argument for a shell (see quote.Shell), so a hint can
// be pasted as it is and runs nothing but desksync.
func QuoteArg(s string) string { return quote.Shell(s) }
