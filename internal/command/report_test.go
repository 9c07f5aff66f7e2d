package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/desksync/desksync/internal/hint"
)

func TestReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code int
		want string
	}{
		{"success", nil, 0, ""},
		{"an exit status without a message", exitCode(2), 2, ""},
		{
			"every remedy of joined errors, each once",
			errors.Join(hint.New("a.png: refused", "fix a"), hint.New("b.png: refused", "fix b"), hint.New("c.png: refused", "fix a")),
			1,
			"desksync: error: a.png: refused\ndesksync: error: b.png: refused\ndesksync: error: c.png: refused\n" +
				"desksync: hint: fix a\ndesksync: hint: fix b\n",
		},
		{
			"a remedy of several lines",
			fmt.Errorf("apply: %w", hint.New("boom", "first\nsecond")),
			1,
			"desksync: error: apply: boom\ndesksync: hint: first\ndesksync: hint: second\n",
		},
		{
			"a signal with no remedy of its own",
			fmt.Errorf("plan: %w", context.Canceled),
			1,
			"desksync: error: plan: context canceled\ndesksync: hint: stopped by a signal (Ctrl-C); the state file, if any was written, is consistent\n",
		},
		{
			"a closed stdout is not reported",
			&os.PathError{Op: "write", Path: os.Stdout.Name(), Err: syscall.EPIPE},
			1,
			"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if code := report(&buf, tt.err); code != tt.code || buf.String() != tt.want {
				t.Errorf("report = %d\n%s\nwant %d\n%s", code, buf.String(), tt.code, tt.want)
			}
		})
	}
}
