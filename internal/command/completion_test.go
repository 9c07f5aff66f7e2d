package command

import (
	"context"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

func completionModel(t testing.TB) *kong.Node {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("desksync"), kong.Vars{"version": "test"}, kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	return parser.Model.Node
}

func TestComplete(t *testing.T) {
	t.Parallel()
	root := completionModel(t)
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{"subcommands of state", []string{"state", "s"}, []string{"show"}},
		{"a flag of the command or a parent", []string{"state", "list", "--m"}, []string{"--manifest", "--max-files"}},
		{"an enum after the flag", []string{"apply", "--format", ""}, []string{"text", "json"}},
		{"an enum in --flag=value form", []string{"plan", "--format=j"}, []string{"--format=json"}},
		{"bash's '=' word is skipped", []string{"plan", "--format", "=", "t"}, []string{"text"}},
		{"a flag's value is not a command", []string{"-m", "state", "l"}, nil},
		{"hidden commands stay hidden", []string{"__"}, nil},
		{"no candidates for a file", []string{"apply", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := complete(context.Background(), root, tt.words)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("complete(%q) = %q, want %q", tt.words, got, tt.want)
			}
		})
	}
}

// FuzzComplete: any command line, however odd, completes without a panic.
func FuzzComplete(f *testing.F) {
	for _, seed := range []string{"", "state show ", "plan --format=", "-m", "--", "= = =", "state mv a ", "apply --target"} {
		f.Add(seed)
	}
	root := completionModel(f)
	f.Fuzz(func(t *testing.T, line string) {
		// No manifest or state exists in the test's folder; addresses come out empty.
		_ = complete(context.Background(), root, strings.Split(line, " "))
	})
}

func TestShellUnquote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"docs/us": "docs/us", `docs/user\ g`: "docs/user g", `'docs/user g`: "docs/user g",
		`"a\"b`: `a"b`, `"a\b"`: `a\b`, `'it'\''s'`: "it's", `x\`: `x\`,
	} {
		if got := shellUnquote(in); got != want {
			t.Errorf("shellUnquote(%s) = %q, want %q", in, got, want)
		}
	}
}
