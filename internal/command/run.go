// Package command is desksync's command line: the kong tree, the run loop with its signal
// handling and exit codes, and one file per command. Start at Run. The commands parse
// flags, call into manifest, plan, apply, state and refresh, and hand results to view.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/internal/view"
)

// cli is the whole command tree; globals sit beside the commands.
type cli struct {
	Globals

	Plan        planCmd        `cmd:"" help:"Show what apply would change on Desk (offline and without credentials, unless --refresh or --diff)."`
	Apply       applyCmd       `cmd:"" help:"Upload what is new or changed and record it in the state file."`
	Show        showCmd        `cmd:"" help:"Render a saved plan for review, offline; says whether it is stale when the work tree is there."`
	Validate    validateCmd    `cmd:"" help:"Check the manifest only: no state, no network."`
	Refresh     refreshCmd     `cmd:"" help:"Read every tracked file from Desk and record remote deletions and changes in the state."`
	Import      importCmd      `cmd:"" help:"Adopt an existing Desk file for a manifest entry."`
	State       stateCmd       `cmd:"" help:"Inspect or edit the state file."`
	ForceUnlock forceUnlockCmd `cmd:"" name:"force-unlock" help:"Remove a stale state lock left by a dead run."`
	Init        initCmd        `cmd:"" help:"Write a manifest for a folder's files, and the .gitignore and .gitattributes lines desksync needs."`
	Completion  completionCmd  `cmd:"" help:"Print a shell completion script: bash, zsh or fish."`
	Complete    completeCmd    `cmd:"" name:"__complete" hidden:"" help:"Complete a command line (used by the completion scripts)."`
	Schema      schemaCmd      `cmd:"" help:"Print the manifest's JSON Schema, for editors."`
	Version     versionCmd     `cmd:"" help:"Print the desksync version, commit and Go version."`
	Help        helpCmd        `cmd:"" help:"Show help for a command: desksync help plan."`
}

// Globals are the flags every command accepts.
type Globals struct {
	Manifest string `short:"m" env:"DESKSYNC_MANIFEST" default:"desksync.yaml" placeholder:"PATH" help:"Manifest file; default: desksync.yaml (${env})."`
	State    string `env:"DESKSYNC_STATE" placeholder:"PATH" help:"State file, s3://BUCKET/KEY or git:REF (git:REMOTE:REF); default: the manifest's 'state:' or desksync.state.json beside it (${env})."`
	NoColor  bool   `help:"Never colour output (neither does a set NO_COLOR)."`
	// MaxFiles bounds what a manifest from an untrusted pull request can make desksync
	// stat, hash and upload (a "**" over a huge tree); see SECURITY.md.
	MaxFiles int `name:"max-files" env:"DESKSYNC_MAX_FILES" default:"10000" placeholder:"N" help:"Refuse a manifest that lists, or whose globs expand to, more files than this; default: ${default} (${env})."`

	ShowVersion kong.VersionFlag `name:"version" help:"Print the desksync version and exit."`
}

// workspaceless is a command that reads no manifest and no state (version, help,
// schema, completion, init): its help does not list the global flags it ignores.
type workspaceless interface{ ignoresWorkspace() }

// helpCmd is "desksync help [COMMAND…]", what git, go and kubectl users type.
type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to explain, e.g. plan or state list."`
}

func (*helpCmd) ignoresWorkspace() {}

func (h *helpCmd) Run(kctx *kong.Context) error {
	ctx, err := kong.Trace(kctx.Kong, h.Command)
	if err != nil {
		return err
	}
	if ctx.Error != nil {
		return hint.New(fmt.Sprintf("no command %q: %v", strings.Join(h.Command, " "), ctx.Error), `run "desksync help" for the list of commands`)
	}
	return ctx.PrintUsage(false)
}

// printHelp is kong's help, without the global flags for the commands that ignore them.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	if node := ctx.Selected(); node != nil && node.Target.CanAddr() {
		if _, ok := node.Target.Addr().Interface().(workspaceless); ok {
			for _, f := range ctx.Model.Flags {
				if f.Name != "help" {
					f.Hidden = true
				}
			}
		}
	}
	return kong.DefaultHelpPrinter(options, ctx)
}

// terminal is what the commands need to know about where they run; bound into every Run.
type terminal struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// messages is stderr as the commands and the signal handler write to it: while
	// progress bars are drawn it leads above them (see aboveBars).
	messages  *switchWriter
	stderrTTY bool
	// stdinTTY and stdoutTTY say whether a person is there to answer and to read colour and bars.
	stdinTTY, stdoutTTY bool
	// interrupt is closed on the first SIGINT/SIGTERM while soft is set: finish running
	// work, start none.
	interrupt <-chan struct{}
	// soft is set by a command while it runs work that a signal should let finish
	// (apply.Run). Otherwise the first signal cancels the context at once: before
	// apply starts there is nothing to finish, and a person at the approval prompt or
	// a run waiting for the lock expects Ctrl-C to stop it.
	soft atomic.Bool
}

// softGrace is how long running actions may take to finish after the first signal
// before they are abandoned as after a second one. Pipelines follow SIGINT/SIGTERM
// with SIGKILL after a grace of their own (GitHub Actions: 7.5 s to SIGTERM, 10 s to
// SIGKILL; Kubernetes: 30 s), and a SIGKILL leaves the state lock behind for a
// person to remove; abandoning an upload only costs uploading it again next time.
const softGrace = 5 * time.Second

// stopSignals end a run the way Ctrl-C does, so that the state lock is released and
// the state saved: a terminal closing (SIGHUP), a pipeline or service manager stopping
// the job (SIGTERM), and the reader of stdout going away (SIGPIPE, "apply | head").
// Notifying SIGPIPE also turns a write to the closed pipe into an EPIPE error instead of
// the runtime killing the process with the lock still held. SIGKILL cannot be caught:
// force-unlock is for that.
func stopSignals() []os.Signal {
	return []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}
}

// exitCode carries a non-error exit status (plan --detailed-exitcode with changes).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// kongExit is how kong's Exit (after --help or a usage error) unwinds out of Parse.
type kongExit int

// Run runs desksync with args (without the program name) and returns the exit status.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	adjustStartingHeap()
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, stopSignals()...)
	defer signal.Stop(signals)
	return run(args, &terminal{
		stdin: stdin, stdout: stdout, stderr: stderr,
		stderrTTY: isTerminal(stderr),
		stdinTTY:  isTerminal(stdin),
		stdoutTTY: isTerminal(stdout),
	}, signals)
}

// run is Run on the terminal t, which says what is a terminal, with the stop signals
// arriving on signals: tests drive the approval prompt and Ctrl-C through both.
func run(args []string, t *terminal, signals <-chan os.Signal) (code int) {
	stdout, stderr := t.stdout, t.stderr
	var c cli
	defer func() {
		if r := recover(); r != nil {
			k, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(k)
		}
	}()
	parser, err := kong.New(&c,
		kong.Name("desksync"),
		kong.Description("Keep Teamwork Desk file attachments in sync with files in git."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Help(printHelp),
		kong.Vars{"version": versionLine(buildInfo())},
	)
	if err != nil {
		fmt.Fprintf(stderr, "desksync: internal error: %v\n", err)
		return 1
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "desksync: error: %s\n", quote.Lines(err.Error()))
		fmt.Fprintln(stderr, `desksync: hint: run "desksync --help" for usage`)
		return 1
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	interrupt := make(chan struct{})
	t.interrupt = interrupt
	t.messages = &switchWriter{w: stderr}
	t.stderr = t.messages
	go func() {
		stderr := t.stderr
		// First signal during apply: a soft stop, so running uploads finish and state
		// is saved. A second signal, or softGrace passing, cancels everything now;
		// state stays consistent because every write is atomic and an upload cut
		// short is already recorded as pending.
		var sig os.Signal
		select {
		case sig = <-signals:
		case <-ctx.Done():
			return
		}
		if !t.soft.Load() {
			// A closed output is the reader's choice ("plan | head"), not news.
			if sig != syscall.SIGPIPE {
				fmt.Fprintln(stderr, "desksync: interrupted")
			}
			stop()
			return
		}
		close(interrupt)
		fmt.Fprintf(stderr, "desksync: interrupted: finishing running actions (at most %v); press Ctrl-C again to abandon them\n", softGrace)
		grace := time.NewTimer(softGrace)
		defer grace.Stop()
		for {
			select {
			case sig := <-signals:
				if sig == syscall.SIGPIPE {
					// Every write to a closed output raises SIGPIPE again (stderr may be
					// the same pipe): only a person's second signal abandons work.
					continue
				}
				fmt.Fprintln(stderr, "desksync: interrupted again: abandoning running actions")
				stop()
			case <-grace.C:
				fmt.Fprintf(stderr, "desksync: running actions did not finish within %v: abandoning them\n", softGrace)
				stop()
			case <-ctx.Done():
			}
			return
		}
	}()
	warnKeyInArgs(kctx, stderr)
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&c.Globals, t)
	return report(stderr, err)
}

// switchWriter writes to w, which aboveBars may change while the command runs.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

// aboveBars sends what the command and the signal handler print to stderr above the
// progress bars p draws on stdout, while it draws them: written straight to the
// terminal, a line would be erased by the next redraw. Only when both are the
// terminal; a stderr sent elsewhere keeps every line.
func (t *terminal) aboveBars(p apply.Progress) {
	if !t.stdoutTTY || !t.stderrTTY {
		return
	}
	t.messages.mu.Lock()
	defer t.messages.mu.Unlock()
	t.messages.w = view.AboveBars(p, t.messages.w)
}

// report prints err the one way desksync prints errors and returns the exit status.
func report(stderr io.Writer, err error) int {
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case stdoutClosed(err):
		return 1
	}
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(stderr, "desksync: error: %s\n", quote.Line(line))
	}
	hints := hint.Of(err)
	for _, h := range hints {
		for _, line := range strings.Split(h, "\n") {
			fmt.Fprintf(stderr, "desksync: hint: %s\n", quote.Line(line))
		}
	}
	if len(hints) == 0 && errors.Is(err, context.Canceled) {
		// Only a signal cancels the context; say so rather than leave "context canceled".
		fmt.Fprintln(stderr, "desksync: hint: stopped by a signal (Ctrl-C); the state file, if any was written, is consistent")
	}
	return 1
}

// stdoutClosed reports whether err is a write to a stdout whose reader went away
// ("desksync state list | head -1"): the reader wanted no more, so nothing is printed.
func stdoutClosed(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Path == os.Stdout.Name() && errors.Is(pe.Err, syscall.EPIPE)
}

// buildInfo is the binary's build information, or nil.
func buildInfo() *debug.BuildInfo {
	info, _ := debug.ReadBuildInfo()
	return info
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// color reports whether output to this terminal may be coloured.
func (g *Globals) color(t *terminal) bool {
	return t.stdoutTTY && !g.NoColor && os.Getenv("NO_COLOR") == ""
}
