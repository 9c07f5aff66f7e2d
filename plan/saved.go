package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

// Saved is a plan read from a file to be applied, and the policy for applying it: what
// it records is the run's default, a limit given again may only tighten, its scope and
// --replace cannot change, and each refusal names the command that makes it again. The
// rules are in docs/plans.md.
type Saved struct {
	*Plan
	// File is the plan file as the user named it, for messages and the suggested
	// "plan --out".
	File string
	// Command writes a desksync command line for a hint from its arguments; the caller
	// adds what the run was given besides (its -m, --state, --sandbox).
	Command func(args ...string) string
}

// Given reports whether this run set a flag itself, on its command line or through
// the flag's environment variable, so that a recorded value yields to it.
type Given func(flag string) bool

// ManifestDefault returns the recorded manifest to load instead of the run's own, or ""
// to keep the run's: when -m was not given and the plan records one. A recorded path
// outside the working directory is refused, as for StateDefault.
func (s *Saved) ManifestDefault(given Given) (string, error) {
	recorded := s.Made.Manifest
	if recorded == "" || given("manifest") {
		return "", nil
	}
	if err := s.checkRecordedPath("manifest", "DESKSYNC_MANIFEST", recorded); err != nil {
		return "", err
	}
	return recorded, nil
}

// Sandbox is whether the run uses the sandbox: a plan made with --sandbox is applied there.
func (s *Saved) Sandbox(own bool) bool { return own || s.Made.Sandbox }

// StateDefault returns the recorded state to use instead of current (the state the
// manifest or --state names), or "" to keep current. The plan file may come from anywhere
// and must not choose which state a pipeline reads and writes, so a recorded path outside
// the working directory (or an s3:// state) is refused unless --state names it.
func (s *Saved) StateDefault(current string, given Given) (string, error) {
	recorded := s.Made.State
	if recorded == "" || given("state") || recorded == RecordedPath(current) {
		return "", nil
	}
	if err := s.checkRecordedPath("state", "DESKSYNC_STATE", recorded); err != nil {
		return "", err
	}
	return recorded, nil
}

// checkRecordedPath refuses a recorded path outside the working directory; naming the
// path again on the command line allows it.
func (s *Saved) checkRecordedPath(flag, env, recorded string) error {
	if _, ok := InsideWorkingDir(recorded); ok {
		return nil
	}
	return hint.New(
		fmt.Sprintf("plan %s was made with the %s %s, outside the working directory", quote.Text(s.File), flag, quote.Text(recorded)),
		fmt.Sprintf("if that is the %s you mean, name it: --%s %s (or %s)", flag, flag, quote.Text(QuoteArg(recorded)), env))
}

// Limits returns the options to plan with and the delete guards to enforce, the first
// being the plan's own. Both come from the file; own (this run's flags, those it set
// marked by given) can only add to them: a smaller --max-file-size, a second
// --max-delete that must also hold. Another --target, --exclude or --replace would
// apply something other than what was reviewed, and is refused.
func (s *Saved) Limits(own Options, given Given) (Options, []DeleteLimit, error) {
	recorded, err := DeleteLimitFlag(s.Made.MaxDelete)
	if err != nil {
		return Options{}, nil, err
	}
	opts := Options{DeleteLimit: recorded, MaxFileSize: s.Made.MaxFileSize, Scope: s.Scope, Replace: s.Replace}
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if given("max-file-size") {
		opts.MaxFileSize = min(opts.MaxFileSize, own.MaxFileSize)
	}
	guards := []DeleteLimit{recorded}
	if given("max-delete") {
		guards = append(guards, own.DeleteLimit)
	}
	if (given("target") || given("exclude")) && own.Scope.String() != s.Scope.String() {
		scope := s.Scope.String()
		if scope == "" {
			scope = "no --target or --exclude"
		}
		return Options{}, nil, hint.New(
			fmt.Sprintf("plan %s was made with %s; --target and --exclude cannot change a saved plan", quote.Text(s.File), quote.Text(scope)),
			fmt.Sprintf(`make the plan again with the patterns you want: %s`, s.Command("plan", "--out", s.File)))
	}
	if given("replace") && !slices.Equal(own.Replace, s.Replace) {
		recorded := "no --replace"
		if len(s.Replace) > 0 {
			var args []string
			for _, a := range s.Replace {
				args = append(args, "--replace "+quote.Shell(a))
			}
			recorded = strings.Join(args, " ")
		}
		return Options{}, nil, hint.New(
			fmt.Sprintf("plan %s was made with %s; --replace cannot change a saved plan", quote.Text(s.File), recorded),
			fmt.Sprintf(`make the plan again with the addresses you want replaced: %s`, s.Command("plan", "--replace", "ADDRESS", "--out", s.File)))
	}
	return opts, guards, nil
}

// DeleteLimitFlag reads --max-delete as given or recorded; empty means the default guard.
func DeleteLimitFlag(flag string) (DeleteLimit, error) {
	if flag == "" {
		return DefaultDeleteLimit(), nil
	}
	return ParseDeleteLimit(flag)
}

// CheckSite refuses the plan when it was made for another site than the run's.
func (s *Saved) CheckSite(site string) error {
	if made := s.Made.Site; made != "" && made != site {
		return hint.New(
			fmt.Sprintf("plan %s was made for %s, and this run talks to %s", quote.Text(s.File), quote.Text(made), site),
			"point DESK_URL at the site the plan was made for, or make the plan again: "+s.Replan(""))
	}
	return nil
}

// CheckFresh is CheckStale with the command that makes the plan again.
func (s *Saved) CheckFresh(ctx context.Context, m *manifest.Manifest, st *state.State) error {
	if err := CheckStale(ctx, s.Plan, m, st); err != nil {
		var stale *StaleError
		if errors.As(err, &stale) {
			return hint.Wrap(err, `run "`+s.Replan("")+`" again`)
		}
		return err
	}
	return nil
}

// Matches is Verify of the plan made now against the saved one, with the command that
// makes it again.
func (s *Saved) Matches(now *Plan) error {
	if err := Verify(s.Plan, now); err != nil {
		return hint.Wrap(err, `the plan file was edited, or made from other files; make it again with "`+s.Replan("")+`", review it, and apply that`)
	}
	return nil
}

// CheckGuards enforces the mass-delete guards on now, the first being the saved plan's
// own: breaking that one says how the plan was made and how to make it again allowing
// the deletes it has.
func (s *Saved) CheckGuards(now *Plan, guards []DeleteLimit) error {
	for i, guard := range guards {
		err := now.CheckDeletes(guard)
		var md *MassDeleteError
		if i == 0 && errors.As(err, &md) {
			made := "with --max-delete " + md.Limit.String()
			if s.Made.MaxDelete == "" {
				made = "without --max-delete, so the default limit applies"
			}
			return hint.Wrap(err, fmt.Sprintf(`the plan was made %s; if the deletes are intended, make it again with "%s"`,
				made, s.Replan(strconv.Itoa(md.Deletes))))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Replan is the command that makes the plan again with the same inputs and limits, or
// with maxDelete in place of its --max-delete when that is not empty.
func (s *Saved) Replan(maxDelete string) string {
	args := []string{"plan"}
	for _, p := range s.Scope.Target {
		args = append(args, "--target", p)
	}
	for _, p := range s.Scope.Exclude {
		args = append(args, "--exclude", p)
	}
	for _, a := range s.Replace {
		args = append(args, "--replace", a)
	}
	if maxDelete == "" {
		maxDelete = s.Made.MaxDelete
	}
	if maxDelete != "" {
		args = append(args, "--max-delete", maxDelete)
	}
	if size := s.Made.MaxFileSize; size != 0 && size != DefaultMaxFileSize {
		args = append(args, "--max-file-size", strconv.FormatInt(size, 10))
	}
	if s.Refreshed {
		args = append(args, "--refresh")
	}
	return s.Command(append(args, "--out", s.File)...)
}

// RecordedPath is path as a saved plan records it: relative to the working directory
// when it lies inside it, absolute otherwise, an s3:// state as it is (either of the
// last two refused by apply unless named again on its command line).
func RecordedPath(path string) string {
	if manifest.IsStateURL(path) {
		return path
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if rel, ok := InsideWorkingDir(abs); ok {
		return rel
	}
	return abs
}

// InsideWorkingDir returns path relative to the working directory, and whether it
// lies inside it.
func InsideWorkingDir(path string) (string, bool) {
	if manifest.IsStateURL(path) {
		return "", false
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(wd, path)
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}
