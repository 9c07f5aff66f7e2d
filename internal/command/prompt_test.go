package command

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/syncbuf"
)

// TestApprovalPrompt drives apply's "Enter a value:" prompt through a terminal whose
// stdin is a person: only "yes" approves; "no", end of input and Ctrl-C at the prompt
// change nothing, and none of them uploads a byte.
func TestApprovalPrompt(t *testing.T) {
	const prompt = "Enter a value: "
	tests := []struct {
		name string
		// answer is what the person types; nil sends Ctrl-C once the prompt is shown.
		answer  *string
		code    int
		stderr  string
		applied bool
	}{
		{name: "yes", answer: ptr("yes\n"), code: 0, applied: true},
		{name: "yes with spaces", answer: ptr("  yes  \n"), code: 0, applied: true},
		{name: "no", answer: ptr("no\n"), code: 1, stderr: `apply cancelled: the answer was not "yes"`},
		{name: "y is not yes", answer: ptr("y\n"), code: 1, stderr: `apply cancelled: the answer was not "yes"`},
		{name: "YES is not yes", answer: ptr("YES\n"), code: 1, stderr: `apply cancelled: the answer was not "yes"`},
		{name: "end of input", answer: ptr(""), code: 1, stderr: `apply cancelled: the answer was not "yes"`},
		{name: "Ctrl-C", answer: nil, code: 1, stderr: "interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			manifest := filepath.Join(dir, "desksync.yaml")
			writeTestFile(t, manifest, "version: 1\nattachments:\n  - path: a.txt\n")
			writeTestFile(t, filepath.Join(dir, "a.txt"), "hello\n")

			stdinR, stdinW := io.Pipe()
			defer stdinW.Close()
			var stdout, stderr syncbuf.Buffer
			signals := make(chan os.Signal, 1)
			term := &terminal{stdin: stdinR, stdout: &stdout, stderr: &stderr, stdinTTY: true}
			done := make(chan int, 1)
			go func() {
				done <- run([]string{"apply", "--sandbox", "--no-color", "-m", manifest}, term, signals)
			}()

			deadline := time.After(30 * time.Second)
			for !strings.Contains(stdout.String(), prompt) {
				select {
				case code := <-done:
					t.Fatalf("apply exited %d before asking\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
				case <-deadline:
					t.Fatalf("no prompt within 30s\nstdout:\n%s", stdout.String())
				case <-time.After(5 * time.Millisecond):
				}
			}
			if tt.answer == nil {
				signals <- os.Interrupt
			} else {
				go func() {
					io.WriteString(stdinW, *tt.answer)
					stdinW.Close()
				}()
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("apply did not end after the answer\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, want %d with %q in stderr\nstdout:\n%s\nstderr:\n%s", code, tt.code, tt.stderr, stdout.String(), stderr.String())
			}
			_, err := os.Stat(filepath.Join(dir, ".desksync", "sandbox", "desksync.state.json"))
			if applied := err == nil; applied != tt.applied {
				t.Errorf("state written = %v, want %v (the apply %s)\nstdout:\n%s", applied, tt.applied,
					map[bool]string{true: "should have run", false: "must not run"}[tt.applied], stdout.String())
			}
			if tt.applied && !strings.Contains(stdout.String(), "Apply complete") {
				t.Errorf("stdout lacks the summary:\n%s", stdout.String())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
