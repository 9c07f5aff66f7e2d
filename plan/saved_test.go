package plan

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/hint"
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
		got := RecordedPath(tt.in)
		_, inside := InsideWorkingDir(got)
		if got != tt.recorded || inside != tt.inside {
			t.Errorf("RecordedPath(%q) = %q, inside %v; want %q, %v", tt.in, got, inside, tt.recorded, tt.inside)
		}
	}
}

// cmdline is the Command a test gives Saved: the arguments as they are, so a hint's
// suggested command can be compared whole.
func cmdline(args ...string) string { return "desksync " + strings.Join(args, " ") }

func givenOnly(flags ...string) Given {
	return func(flag string) bool { return slices.Contains(flags, flag) }
}

func hintOf(err error) string { return strings.Join(hint.Of(err), "\n") }

// TestSavedLimitsTighten: a saved plan's limits are the defaults; a limit given again
// may only tighten them, and a second --max-delete is a second guard.
func TestSavedLimitsTighten(t *testing.T) {
	s := &Saved{Plan: &Plan{Made: Made{MaxDelete: "2", MaxFileSize: 100}}, File: "p.json", Command: cmdline}
	own := Options{DeleteLimit: DeleteLimit{Count: 50, Explicit: true}, MaxFileSize: 50}

	opts, guards, err := s.Limits(own, givenOnly())
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxFileSize != 100 || len(guards) != 1 || guards[0] != (DeleteLimit{Count: 2, Explicit: true}) {
		t.Errorf("nothing given: max file size %d, guards %v; want the recorded 100 and [2]", opts.MaxFileSize, guards)
	}
	if opts, _, _ = s.Limits(own, givenOnly("max-file-size")); opts.MaxFileSize != 50 {
		t.Errorf("a smaller --max-file-size: %d, want 50", opts.MaxFileSize)
	}
	own.MaxFileSize = 500
	if opts, _, _ = s.Limits(own, givenOnly("max-file-size")); opts.MaxFileSize != 100 {
		t.Errorf("a larger --max-file-size loosened the recorded limit: %d, want 100", opts.MaxFileSize)
	}
	if _, guards, _ = s.Limits(own, givenOnly("max-delete")); len(guards) != 2 || guards[0].Count != 2 || guards[1].Count != 50 {
		t.Errorf("--max-delete given: guards %v, want the recorded one first, then this run's", guards)
	}

	s.Made = Made{}
	opts, guards, err = s.Limits(own, givenOnly())
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxFileSize != DefaultMaxFileSize || guards[0] != DefaultDeleteLimit() {
		t.Errorf("nothing recorded: max file size %d, guard %v; want the defaults", opts.MaxFileSize, guards[0])
	}
}

// TestSavedLimitsRefuseScopeAndReplace: another --target, --exclude or --replace than the
// plan was made with is refused, with the command that makes the plan again.
func TestSavedLimitsRefuseScopeAndReplace(t *testing.T) {
	images, err := NewScope([]string{"images/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Saved{Plan: &Plan{Replace: []string{"a.txt"}}, File: "p.json", Command: cmdline}

	_, _, err = s.Limits(Options{Scope: images, Replace: []string{"a.txt"}}, givenOnly("target"))
	if err == nil || !strings.Contains(err.Error(), `plan p.json was made with no --target or --exclude; --target and --exclude cannot change a saved plan`) {
		t.Errorf("another --target: %v", err)
	}
	if h := hintOf(err); h != "make the plan again with the patterns you want: desksync plan --out p.json" {
		t.Errorf("another --target: hint %q", h)
	}
	if _, _, err := s.Limits(Options{Scope: images}, givenOnly()); err != nil {
		t.Errorf("a scope not given on this run's command line is not this run's: %v", err)
	}

	_, _, err = s.Limits(Options{Replace: []string{"b.txt"}}, givenOnly("replace"))
	if err == nil || err.Error() != "plan p.json was made with --replace a.txt; --replace cannot change a saved plan" {
		t.Errorf("another --replace: %v", err)
	}
	if h := hintOf(err); h != "make the plan again with the addresses you want replaced: desksync plan --replace ADDRESS --out p.json" {
		t.Errorf("another --replace: hint %q", h)
	}
	opts, _, err := s.Limits(Options{Replace: []string{"a.txt"}}, givenOnly("replace"))
	if err != nil || !slices.Equal(opts.Replace, []string{"a.txt"}) {
		t.Errorf("the same --replace: %v, %v", opts.Replace, err)
	}
}

// TestSavedReplan: the suggested command makes the plan again with every input and
// limit it records, --max-delete overridden when asked.
func TestSavedReplan(t *testing.T) {
	scope, err := NewScope([]string{"images/"}, []string{"images/raw/"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Saved{Plan: &Plan{Scope: scope, Replace: []string{"a.txt"}, Refreshed: true,
		Made: Made{MaxDelete: "3", MaxFileSize: 1000}}, File: "p.json", Command: cmdline}
	want := "desksync plan --target images --exclude images/raw --replace a.txt --max-delete 3 --max-file-size 1000 --refresh --out p.json"
	if got := s.Replan(""); got != want {
		t.Errorf("Replan(\"\") = %q\nwant %q", got, want)
	}
	if got := s.Replan("7"); !strings.Contains(got, "--max-delete 7 ") {
		t.Errorf("Replan(\"7\") = %q, want --max-delete 7", got)
	}
	s.Plan = &Plan{Made: Made{MaxFileSize: DefaultMaxFileSize}}
	if got := s.Replan(""); got != "desksync plan --out p.json" {
		t.Errorf("nothing recorded but defaults: %q", got)
	}
}

// TestSavedCheckGuards: breaking the saved plan's own guard says how it was made and
// suggests making it again allowing its deletes; a later guard (this run's
// --max-delete) is refused as it is.
func TestSavedCheckGuards(t *testing.T) {
	now := &Plan{Tracked: 3, Files: map[string]FileDigest{"keep": {}},
		Changes: []Change{{Address: "x", Action: Delete}, {Address: "y", Action: Delete}}}
	s := &Saved{Plan: &Plan{}, File: "p.json", Command: cmdline}
	one := DeleteLimit{Count: 1, Explicit: true}

	err := s.CheckGuards(now, []DeleteLimit{one})
	var md *MassDeleteError
	if !errors.As(err, &md) {
		t.Fatalf("over the plan's own guard: %v, want a *MassDeleteError", err)
	}
	want := `the plan was made without --max-delete, so the default limit applies; if the deletes are intended, make it again with "desksync plan --max-delete 2 --out p.json"`
	if h := hintOf(err); h != want {
		t.Errorf("hint %q\nwant %q", h, want)
	}
	s.Made.MaxDelete = "1"
	if h := hintOf(s.CheckGuards(now, []DeleteLimit{one})); !strings.HasPrefix(h, "the plan was made with --max-delete 1;") {
		t.Errorf("recorded --max-delete: hint %q", h)
	}
	err = s.CheckGuards(now, []DeleteLimit{{Count: 5, Explicit: true}, one})
	if !errors.As(err, &md) || strings.Contains(hintOf(err), "the plan was made") {
		t.Errorf("over this run's own guard: %v (hint %q), want the plain *MassDeleteError", err, hintOf(err))
	}
	if err := s.CheckGuards(now, []DeleteLimit{{Count: 2, Explicit: true}}); err != nil {
		t.Errorf("within the guard: %v", err)
	}
}

// TestSavedDefaults: a recorded manifest or state is this run's default unless the run
// names its own, and only inside the working directory.
func TestSavedDefaults(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(wd), "elsewhere.state.json")
	s := &Saved{Plan: &Plan{Made: Made{Manifest: "sub/desksync.yaml", State: "sub/s.json", Sandbox: true}}, File: "p.json", Command: cmdline}

	if m, err := s.ManifestDefault(givenOnly()); m != "sub/desksync.yaml" || err != nil {
		t.Errorf("ManifestDefault = %q, %v; want the recorded one", m, err)
	}
	if m, err := s.ManifestDefault(givenOnly("manifest")); m != "" || err != nil {
		t.Errorf("-m given: ManifestDefault = %q, %v; want the run's own", m, err)
	}
	if st, err := s.StateDefault("desksync.state.json", givenOnly()); st != "sub/s.json" || err != nil {
		t.Errorf("StateDefault = %q, %v; want the recorded one", st, err)
	}
	if st, err := s.StateDefault(filepath.Join(wd, "sub", "s.json"), givenOnly()); st != "" || err != nil {
		t.Errorf("the state already named: StateDefault = %q, %v; want none", st, err)
	}
	if !s.Sandbox(false) {
		t.Error("a plan made with --sandbox is applied without it")
	}

	s.Made = Made{Manifest: filepath.Join(filepath.Dir(wd), "desksync.yaml"), State: outside}
	if _, err := s.ManifestDefault(givenOnly()); err == nil || !strings.Contains(err.Error(), "outside the working directory") {
		t.Errorf("a manifest outside the working directory: %v, want refused", err)
	}
	_, err = s.StateDefault("desksync.state.json", givenOnly())
	if err == nil || !strings.Contains(err.Error(), "outside the working directory") || !strings.Contains(hintOf(err), "--state ") {
		t.Errorf("a state outside the working directory: %v (hint %q), want refused naming --state", err, hintOf(err))
	}
	if st, err := s.StateDefault("desksync.state.json", givenOnly("state")); st != "" || err != nil {
		t.Errorf("--state given: StateDefault = %q, %v; want the run's own", st, err)
	}
	s.Made.State = "s3://bucket/team/desksync.state.json"
	if _, err := s.StateDefault("desksync.state.json", givenOnly()); err == nil {
		t.Error("an s3:// state recorded in a plan file was taken without --state")
	}
}

// TestDeleteLimitFlag: an empty --max-delete (given or recorded) is the default guard.
func TestDeleteLimitFlag(t *testing.T) {
	if l, err := DeleteLimitFlag(""); err != nil || l != DefaultDeleteLimit() {
		t.Errorf(`DeleteLimitFlag("") = %v, %v; want the default`, l, err)
	}
	if l, err := DeleteLimitFlag("5"); err != nil || l != (DeleteLimit{Count: 5, Explicit: true}) {
		t.Errorf(`DeleteLimitFlag("5") = %v, %v`, l, err)
	}
	if _, err := DeleteLimitFlag("lots"); err == nil {
		t.Error(`DeleteLimitFlag("lots") took a word for a limit`)
	}
}
