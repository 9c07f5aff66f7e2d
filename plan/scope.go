package plan

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

// Scope limits a plan to some addresses (--target, --exclude). Each pattern is an
// address, a folder (everything under it) or a doublestar glob over addresses.
type Scope struct {
	Target  []string `json:"target,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// NewScope checks every pattern and writes it the way addresses are written, so that
// a typo fails before anything is planned rather than silently matching nothing:
// "./images/", "images/" and "images\" all mean the folder images. Whether a pattern
// matches anything is checked by Compute, which has the manifest and the state.
func NewScope(target, exclude []string) (Scope, error) {
	var s Scope
	for _, flag := range []struct {
		name     string
		patterns []string
		out      *[]string
	}{{"--target", target, &s.Target}, {"--exclude", exclude, &s.Exclude}} {
		for _, p := range flag.patterns {
			n, err := normalisePattern(p)
			if err != nil {
				return Scope{}, hint.New(fmt.Sprintf("%s %q: %v", flag.name, p, err),
					`give an address such as images/logo.png, a folder such as images, or a glob such as "images/**/*.png"`)
			}
			*flag.out = append(*flag.out, n)
		}
	}
	return s, nil
}

// normalisePattern writes p as addresses are written: '/'-separated, cleaned, with no
// leading "./" or trailing "/". A backslash is a separator on every platform, since
// people paste Windows paths on any of them and no address holds one; to match a glob
// character literally, put it in brackets ("[*]").
func normalisePattern(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty pattern")
	}
	n := strings.ReplaceAll(p, `\`, "/")
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("addresses are relative to the manifest's folder, so a pattern cannot start with /")
	}
	n = path.Clean(n)
	switch {
	case n == ".":
		return "**", nil // "./" is the whole manifest folder
	case n == ".." || strings.HasPrefix(n, "../"):
		//lint:ignore ST1005 the message ends with the ".." it refuses, not with punctuation
		return "", fmt.Errorf("addresses lie inside the manifest's folder, so a pattern cannot leave it with ..")
	case !doublestar.ValidatePattern(n):
		return "", fmt.Errorf("not a valid glob")
	}
	return n, nil
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

// planned returns the entries of m that a plan limited to s hashes and compares: a
// copy whenever s is partial. They are those in s and, once a tracked address in s is
// gone from the manifest, the untracked ones outside it too, so that a file moved
// across the scope's edge is planned as the move it is rather than as a delete.
func (s Scope) planned(m *manifest.Manifest, st *state.State) *manifest.Manifest {
	if !s.Partial() {
		return m
	}
	listed := make(map[string]bool, len(m.Entries))
	for _, e := range m.Entries {
		listed[e.Address] = true
	}
	goneInScope := false
	if st != nil {
		for addr, att := range st.Attachments {
			if att != nil && !listed[addr] && s.Match(addr) {
				goneInScope = true
				break
			}
		}
	}
	scoped := *m
	scoped.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e manifest.Entry) bool {
		return !s.Match(e.Address) && !(goneInScope && st.Attachments[e.Address] == nil)
	})
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

// NoMatchError is a --target or --exclude pattern that matches no address of the
// manifest or the state: most often a typo, which would otherwise plan nothing (or
// leave out nothing) without a word.
type NoMatchError struct {
	// Flag is "--target" or "--exclude"; Pattern is as normalised by NewScope.
	Flag, Pattern string
	// Nearest is the address or folder closest to Pattern; empty when there is none.
	Nearest string
}

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("%s %s matches no address in the manifest or the state", e.Flag, QuoteArg(e.Pattern))
}

// Hint names the nearest address, and where to see them all.
func (e *NoMatchError) Hint() string {
	list := `"desksync state list" shows the tracked addresses, "desksync validate" checks the manifest`
	if e.Nearest == "" {
		return "addresses are paths relative to the manifest's folder, such as images/logo.png; " + list
	}
	return fmt.Sprintf("did you mean %s %s? %s", e.Flag, QuoteArg(e.Nearest), list)
}

// check returns a *NoMatchError for the first pattern of s that matches none of
// addrs, the addresses of the manifest and the state.
func (s Scope) check(addrs []string) error {
	for _, flag := range []struct {
		name     string
		patterns []string
	}{{"--target", s.Target}, {"--exclude", s.Exclude}} {
		for _, p := range flag.patterns {
			if !slices.ContainsFunc(addrs, func(a string) bool { return matchPattern(p, a) }) {
				return &NoMatchError{Flag: flag.name, Pattern: p, Nearest: nearest(p, addrs)}
			}
		}
	}
	return nil
}

// nearest returns the address or folder of addrs closest to p by edit distance,
// or "" when none is close enough to be a plausible typo.
func nearest(p string, addrs []string) string {
	seen := map[string]bool{}
	best, bestDist := "", -1
	try := func(c string) {
		if seen[c] {
			return
		}
		seen[c] = true
		d := editDistance(p, c)
		if bestDist < 0 || d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	for _, a := range addrs {
		try(a)
		for dir := path.Dir(a); dir != "."; dir = path.Dir(dir) {
			try(dir)
		}
	}
	if bestDist < 0 || bestDist > max(2, len([]rune(p))/2) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
