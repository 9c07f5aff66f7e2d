package command

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecordedPath: what a saved plan records of a path, and whether apply may take it
// as a default (only inside the working directory; never an s3:// state).
func TestRecordedPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Dir(wd)
	tests := []struct {
		in, recorded string
		inside       bool
	}{
		{"desksync.yaml", "desksync.yaml", true},
		{"work/desksync.yaml", filepath.Join("work", "desksync.yaml"), true},
		{filepath.Join(wd, "a", "s.json"), filepath.Join("a", "s.json"), true},
		{"../x/desksync.yaml", filepath.Join(outside, "x", "desksync.yaml"), false},
		{"s3://bucket/team/desksync.state.json", "s3://bucket/team/desksync.state.json", false},
	}
	for _, tt := range tests {
		got := recordedPath(tt.in)
		_, inside := insideWorkingDir(got)
		if got != tt.recorded || inside != tt.inside {
			t.Errorf("recordedPath(%q) = %q, inside %v; want %q, %v", tt.in, got, inside, tt.recorded, tt.inside)
		}
	}
}
