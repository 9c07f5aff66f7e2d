package command

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `Prints a script that completes desksync's commands, flags and enum values, and the
addresses of the state and the manifest (state show, rm and mv; import; --target
and --exclude), read offline from the files the command line names.

Load it for the current shell, or install it for every new one:

  bash:  source <(desksync completion bash)
         desksync completion bash > ~/.local/share/bash-completion/completions/desksync
  zsh:   source <(desksync completion zsh)        (after compinit)
         desksync completion zsh > "${fpath[1]}/_desksync"
  fish:  desksync completion fish | source
         desksync completion fish > ~/.config/fish/completions/desksync.fish`
}

func (*completionCmd) ignoresWorkspace() {}

func (c *completionCmd) Run(t *terminal) error {
	_, err := fmt.Fprint(t.stdout, completionScripts()[c.Shell])
	return err
}

// completionScripts are the shell halves of completion: each hands the words typed so
// far to "desksync __complete" and offers what it prints, one candidate a line, falling
// back to file names when it prints nothing (a manifest, a saved plan, a folder).
func completionScripts() map[string]string {
	return map[string]string{
		// Each candidate is read whole (no word splitting, no globbing) and inserted
		// shell-quoted by printf %q: an address such as "a;touch x;#" or one with a
		// space stays one argument.
		"bash": `# bash completion for desksync: source <(desksync completion bash)
_desksync() {
    local candidate
    COMPREPLY=()
    while IFS= read -r candidate; do
        COMPREPLY+=("$(printf '%q' "$candidate")")
    done < <(desksync __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
}
complete -o default -F _desksync desksync
`,
		// compadd quotes what it inserts (no -Q), and fish escapes its candidates.
		"zsh": `#compdef desksync
# zsh completion for desksync: source <(desksync completion zsh), after compinit
_desksync() {
    local -a candidates
    candidates=("${(@f)$(desksync __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if (( ${#candidates} )) && [[ -n ${candidates[1]} ]]; then
        compadd -V desksync -- "${candidates[@]}"
    else
        _files
    fi
}
if [[ $funcstack[1] == _desksync ]]; then
    _desksync "$@"
else
    compdef _desksync desksync
fi
`,
		"fish": `# fish completion for desksync: desksync completion fish | source
function __desksync_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l candidates (desksync __complete -- $words[2..-1] 2>/dev/null)
    if test (count $candidates) -eq 0
        __fish_complete_path (commandline -ct)
    else
        printf '%s\n' $candidates
    end
end
complete -c desksync -f -a '(__desksync_complete)'
`,
	}
}

// completeCmd is the engine the scripts call: "desksync __complete -- WORD… PARTIAL".
type completeCmd struct {
	Words []string `arg:"" optional:"" passthrough:"" help:"The words after desksync, the last one being completed."`
}

func (*completeCmd) ignoresWorkspace() {}

func (c *completeCmd) Run(kctx *kong.Context, t *terminal, ctx context.Context) error {
	words := slices.Clone(c.Words)
	if n := len(words); n > 0 {
		words[n-1] = shellUnquote(words[n-1])
	}
	for _, candidate := range complete(ctx, kctx.Model.Node, words) {
		// One candidate a line: one holding a newline (or anything else unsafe to
		// print) cannot be offered whole, and the shell must not see it in parts.
		if strings.ContainsFunc(candidate, quote.Unsafe) {
			continue
		}
		fmt.Fprintln(t.stdout, candidate)
	}
	return nil
}

// shellUnquote is the word being completed as the shell will pass it once typed: the
// shells hand over the raw text, quotes and backslashes included ("docs/user\ g"). An
// unfinished quote is taken as closed.
func shellUnquote(w string) string {
	if !strings.ContainsAny(w, `\'"`) {
		return w
	}
	var b strings.Builder
	var inQuote rune
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case inQuote == '\'' && c != '\'':
			b.WriteByte(c)
		case inQuote == '\'':
			inQuote = 0
		case c == '\\' && i+1 < len(w) && (inQuote == 0 || strings.IndexByte(`$"\`+"`", w[i+1]) >= 0):
			i++
			b.WriteByte(w[i])
		case c == '"' && inQuote == '"':
			inQuote = 0
		case (c == '"' || c == '\'') && inQuote == 0:
			inQuote = rune(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// addressSource says which addresses a value takes: those the state tracks, those the
// manifest lists, or either.
type addressSource int

const (
	noAddresses addressSource = iota
	stateAddresses
	manifestAddresses
	anyAddresses
)

// complete returns the candidates for the last of words, given the ones before it, by
// walking kong's model of the command line: subcommands, flags (of the command and
// its parents), enum values, and addresses.
func complete(ctx context.Context, root *kong.Node, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	typed, partial := words[:len(words)-1], words[len(words)-1]
	node := root
	positional := 0
	var pending *kong.Flag // a flag whose value is the next word
	g := completionGlobals()
	for i := 0; i < len(typed); i++ {
		w := typed[i]
		if pending != nil {
			if w == "=" { // bash splits "--target=x" at '='
				continue
			}
			g.set(pending, w)
			pending = nil
			continue
		}
		switch {
		case w == "--":
			continue
		case strings.HasPrefix(w, "-") && len(w) > 1:
			name, value, hasValue := strings.Cut(w, "=")
			f := findFlag(node, name)
			if f == nil {
				continue
			}
			switch {
			case hasValue:
				g.set(f, value)
			case f.Value.IsBool() || f.Value.IsCounter():
				g.set(f, "true")
			default:
				pending = f
			}
		default:
			if child := findChild(node, w); child != nil {
				node, positional = child, 0
				continue
			}
			positional++
		}
	}
	if pending != nil {
		return filterPrefix(flagValues(ctx, node, pending, g), partial)
	}
	if strings.HasPrefix(partial, "--") && strings.Contains(partial, "=") {
		name, value, _ := strings.Cut(partial, "=")
		if f := findFlag(node, name); f != nil {
			var out []string
			for _, v := range filterPrefix(flagValues(ctx, node, f, g), value) {
				out = append(out, name+"="+v)
			}
			return out
		}
		return nil
	}
	if strings.HasPrefix(partial, "-") {
		var out []string
		for n := node; n != nil; n = n.Parent {
			for _, f := range n.Flags {
				if !f.Hidden {
					out = append(out, "--"+f.Name)
				}
			}
		}
		slices.Sort(out)
		return filterPrefix(slices.Compact(out), partial)
	}
	var out []string
	for _, child := range node.Children {
		if !child.Hidden && child.Type == kong.CommandNode {
			out = append(out, child.Name)
		}
	}
	if positional < len(node.Positional) {
		out = append(out, addresses(ctx, g, positionalAddresses(node, node.Positional[positional]))...)
	}
	return filterPrefix(out, partial)
}

// positionalAddresses says which addresses the positional argument p of node takes.
func positionalAddresses(node *kong.Node, p *kong.Positional) addressSource {
	name := strings.ToLower(p.Name)
	inState := node.Parent != nil && node.Parent.Name == "state"
	switch {
	case inState && node.Name == "mv" && name == "new":
		return manifestAddresses
	case inState && (name == "address" || name == "old"):
		return stateAddresses
	case node.Name == "import" && name == "address":
		return manifestAddresses
	}
	return noAddresses
}

// flagValues are the candidates for f's value: its enum, or addresses for --target,
// --exclude and (tracked ones only) --replace. Nothing (the shell then offers files) for the rest.
func flagValues(ctx context.Context, node *kong.Node, f *kong.Flag, g *typedFlags) []string {
	if f.Value.Enum != "" {
		return f.Value.EnumSlice()
	}
	switch f.Name {
	case "target", "exclude":
		return addresses(ctx, g, anyAddresses)
	case "replace":
		return addresses(ctx, g, stateAddresses)
	}
	return nil
}

// addresses reads the addresses of source offline: the manifest and state named by
// the flags typed so far (or the environment, or the defaults). Whatever cannot be
// read offers nothing: completion never prints an error.
func addresses(ctx context.Context, g *typedFlags, source addressSource) []string {
	if source == noAddresses {
		return nil
	}
	var out []string
	statePath := g.State
	if m, err := g.loadManifest(); err == nil {
		if source != stateAddresses {
			for _, e := range m.Entries {
				out = append(out, e.Address)
			}
		}
		if statePath == "" {
			statePath = m.StatePath
			if g.sandbox {
				statePath = filepath.Join(m.Root, ".desksync", "sandbox", filepath.Base(m.StatePath))
			}
		}
	} else if statePath == "" {
		statePath = filepath.Join(filepath.Dir(g.Manifest), initStateName)
	}
	if source != manifestAddresses {
		if st, err := state.NewFile(statePath).Load(ctx); err == nil {
			out = append(out, st.Addresses()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// typedFlags are the flags that tell completion where the manifest and state are.
type typedFlags struct {
	Globals
	sandbox bool
}

// completionGlobals are the global flags as the environment sets them, before the
// words typed override them.
func completionGlobals() *typedFlags {
	g := &typedFlags{Globals: Globals{Manifest: "desksync.yaml", State: os.Getenv("DESKSYNC_STATE"), MaxFiles: manifest.DefaultMaxEntries}}
	if m := os.Getenv("DESKSYNC_MANIFEST"); m != "" {
		g.Manifest = m
	}
	return g
}

// set records a typed flag.
func (g *typedFlags) set(f *kong.Flag, value string) {
	switch f.Name {
	case "manifest":
		g.Manifest = value
	case "state":
		g.State = value
	case "sandbox":
		g.sandbox = value == "true"
	}
}

func findFlag(node *kong.Node, arg string) *kong.Flag {
	for n := node; n != nil; n = n.Parent {
		for _, f := range n.Flags {
			if arg == "--"+f.Name || (f.Short != 0 && arg == "-"+string(f.Short)) || slices.Contains(f.Aliases, strings.TrimLeft(arg, "-")) {
				return f
			}
		}
	}
	return nil
}

func findChild(node *kong.Node, word string) *kong.Node {
	for _, c := range node.Children {
		if c.Type == kong.CommandNode && (c.Name == word || slices.Contains(c.Aliases, word)) {
			return c
		}
	}
	return nil
}

func filterPrefix(candidates []string, prefix string) []string {
	var out []string
	for _, c := range candidates {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}
