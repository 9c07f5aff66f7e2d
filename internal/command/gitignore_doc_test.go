package command

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestGitignoreDocumented: the one .gitignore list of the docs (docs/ci.md, "What to
// gitignore", which docs/team.md links to) is exactly what init writes, so that a team
// adding the lines by hand gets the same as one running init.
func TestGitignoreDocumented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docs/ci.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "## What to gitignore\n")
	_, block, ok2 := strings.Cut(section, "```\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`docs/ci.md has no "## What to gitignore" section with a code block`)
	}
	got := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if want := gitignoreLines("desksync.state.json"); !slices.Equal(got, want) {
		t.Errorf("docs/ci.md lists\n%q\ninit writes\n%q", got, want)
	}
	team, err := os.ReadFile("../../docs/team.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(team), "ci.md#what-to-gitignore") || strings.Contains(string(team), "# .gitignore") {
		t.Error("docs/team.md should link to the list in docs/ci.md, not keep a copy")
	}
}
