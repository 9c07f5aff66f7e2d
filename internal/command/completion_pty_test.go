//go:build linux || darwin

package command

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// completionState tracks two addresses a shell must not take apart: one that runs a
// command when inserted unquoted, one with a space.
const completionState = `{
  "attachments": {
    "evil.png;touch${IFS}pwned;#": {"blake3": "1111111111111111111111111111111111111111111111111111111111111111",
      "disposition": "attachment", "filename": "x.png", "id": 4242, "mimeType": "image/png", "size": 4,
      "state": "active", "type": "attachment", "uploadedAt": "2026-11-26T10:00:00Z"},
    "docs/user guides/a.pdf": {"blake3": "2222222222222222222222222222222222222222222222222222222222222222",
      "disposition": "attachment", "filename": "a.pdf", "id": 4343, "mimeType": "application/pdf", "size": 4,
      "state": "active", "type": "attachment", "uploadedAt": "2026-11-26T10:00:00Z"}
  },
  "lineage": "4f1c9b0e-0000-4000-8000-000000000001",
  "serial": 3,
  "site": "https://example.teamwork.com",
  "version": 1
}
`

// TestCompletionInARealShell loads "desksync completion SHELL" into an interactive shell
// on a pty, types "desksync state show" and a prefix, presses TAB and then Enter: the
// candidate must arrive as one argument (state show prints its record) and run nothing.
// bash is required; zsh and fish are tested when installed, and required with
// DESKSYNC_LONG_TESTS=1.
func TestCompletionInARealShell(t *testing.T) {
	if _, err := exec.LookPath("desksync"); err != nil {
		t.Fatalf("desksync is not on PATH (TestMain puts it there): %v", err)
	}
	shells := []struct {
		name  string
		args  []string
		setup string
	}{
		{"bash", []string{"--norc", "--noprofile", "-i"}, "source <(desksync completion bash)"},
		{"zsh", []string{"-f", "-i"}, "autoload -Uz compinit; compinit -u -D; source <(desksync completion zsh)"},
		{"fish", []string{"--no-config", "-i"}, "desksync completion fish | source"},
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			bin, err := exec.LookPath(sh.name)
			if err != nil {
				if sh.name == "bash" || os.Getenv("DESKSYNC_LONG_TESTS") == "1" {
					t.Fatalf("%s is not installed (.ci/run installs it)", sh.name)
				}
				t.Skipf("%s is not installed", sh.name)
			}
			for _, tt := range []struct{ typed, shown, want string }{
				{"evil", "IFS", `"id": 4242`},
				{"docs/us", "guides", `"id": 4343`},
			} {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "desksync.yaml"), "version: 1\nattachments: []\n")
				writeFile(t, filepath.Join(dir, "desksync.state.json"), completionState)
				s := startShell(t, bin, sh.args, dir)
				s.send(sh.setup + "\r")
				s.send("echo READY\"\"1\r")
				s.waitFor("READY1")
				s.send("desksync state show " + tt.typed + "\t")
				s.waitFor(tt.shown)
				s.send("\r")
				s.send("echo DONE\"\"1\r")
				s.waitFor("DONE1")
				if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
					t.Errorf("%s: TAB on %q inserted a candidate that ran a command:\n%s", sh.name, tt.typed, s.output())
				}
				if !strings.Contains(s.output(), tt.want) {
					t.Errorf("%s: TAB on %q and Enter did not show the record (%s):\n%s", sh.name, tt.typed, tt.want, s.output())
				}
				s.close()
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type ptyShell struct {
	t    *testing.T
	f    *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{} // signalled on each read
	done chan struct{}
}

func startShell(t *testing.T, bin string, args []string, dir string) *ptyShell {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "TERM=xterm", "PS1=$ ", "INPUTRC=/dev/null",
		"XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir, "fish_history=", "HISTFILE="+filepath.Join(dir, ".history"))
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	s := &ptyShell{t: t, f: f, cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *ptyShell) send(text string) {
	if _, err := s.f.WriteString(text); err != nil {
		s.t.Fatalf("writing to the shell: %v", err)
	}
}

func (s *ptyShell) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitFor waits for text in the shell's output; the deadline is far beyond what a loaded
// machine needs, since each step only waits for the shell to echo or run something.
func (s *ptyShell) waitFor(text string) {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(s.output(), text) {
		select {
		case <-s.more:
		case <-s.done:
			if !strings.Contains(s.output(), text) {
				s.t.Fatalf("the shell ended before printing %q:\n%s", text, s.output())
			}
		case <-deadline:
			s.t.Fatalf("no %q from the shell within 30s:\n%s", text, s.output())
		}
	}
}

func (s *ptyShell) close() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	_ = s.f.Close()
}
