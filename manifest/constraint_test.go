package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConstraintAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		constraint string
		allowed    []string
		refused    []string
	}{
		{">= 1.3, < 2", []string{"v1.3.0", "v1.3.1", "v1.9.12", "v1.3.1-0.20261130100000-0123456789ab"}, []string{"v1.2.9", "v2.0.0", "v1.3.0-rc.1"}},
		{"~> 1.3", []string{"v1.3.0", "v1.8.0"}, []string{"v1.2.0", "v2.0.0"}},
		{"~> 1.3.2", []string{"v1.3.2", "v1.3.9"}, []string{"v1.3.1", "v1.4.0"}},
		{"1.3.0", []string{"v1.3.0"}, []string{"v1.3.1"}},
		{"= v1.3, != 1.3.0", nil, []string{"v1.3.0"}},
		{"> 1.3", []string{"v1.3.1", "v1.3.1-rc.1"}, []string{"v1.3.0"}},
		{"<= 1.3.0-rc.2", []string{"v1.3.0-rc.1", "v1.3.0-rc.2", "v1.3.0-beta", "v1.2.0"}, []string{"v1.3.0-rc.10", "v1.3.0"}},
	}
	for _, tt := range tests {
		c, err := ParseConstraint(tt.constraint)
		if err != nil {
			t.Fatalf("%q: %v", tt.constraint, err)
		}
		for _, v := range tt.allowed {
			if !c.Allows(v) {
				t.Errorf("%q refuses %s", tt.constraint, v)
			}
		}
		for _, v := range tt.refused {
			if c.Allows(v) {
				t.Errorf("%q allows %s", tt.constraint, v)
			}
		}
	}
}

func TestParseConstraintRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "latest", ">= 1.3 < 2", ">=", "~> 1", "1.2.3.4", ">= 1.3,", "=> 1.3", "99999999999999999999"} {
		if _, err := ParseConstraint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestDevelopmentBuild(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"(devel)": true, "": true, "v0.0.0-20261130100000-0123456789ab": true, "v0.0.0-snapshot.0123456789ab": true,
		"v1.3.0": false, "v1.3.1-0.20261130100000-0123456789ab": false, "v1.3.0-rc.1": false,
	} {
		if got := DevelopmentBuild(v); got != want {
			t.Errorf("DevelopmentBuild(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestLoadVersionConstraint: a release the constraint does not allow refuses the
// manifest with that one error, naming both versions, even when the manifest also
// uses a field this release does not know (one written for a newer desksync).
func TestLoadVersionConstraint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		p := filepath.Join(dir, "desksync.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("version: 1\ndesksync: \">= 1.3, < 2\"\nfuture: true\nattachments:\n  - path: a.txt\n")
	for _, v := range []string{"v1.2.0", "v2.0.0"} {
		_, err := Load(p, Options{Version: v})
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Fatalf("%s: want one error, got %v", v, err)
		}
		msg := list[0].Error()
		for _, want := range []string{"desksync.yaml:2:11", `">= 1.3, < 2"`, "this is desksync " + v} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: the error %q does not say %q", v, msg, want)
			}
		}
		if !strings.Contains(list[0].HintText, "install a desksync release") {
			t.Errorf("%s: hint %q", v, list[0].HintText)
		}
	}

	p = write("version: 1\ndesksync: \">= 1.3, < 2\"\nattachments:\n  - path: a.txt\n")
	if _, err := Load(p, Options{Version: "v1.4.2"}); err != nil {
		t.Errorf("v1.4.2: %v", err)
	}
	m, err := Load(p, Options{Version: "(devel)"})
	if err != nil {
		t.Fatalf("(devel): %v", err)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Error(), "development build") {
		t.Errorf("(devel): warnings %v, want one about the unchecked constraint", m.Warnings)
	}
	if _, err := Load(p, Options{}); err != nil {
		t.Errorf("no version given: %v", err)
	}
}
