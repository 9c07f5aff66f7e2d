package recipetest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/releasetest"
)

// The recipes install desksync from the pinned release and run that binary: the
// action's install step puts it on PATH (the job's PATH holds no other desksync),
// and the version the action reports is the pin.
func TestInstallFromPinnedRelease(t *testing.T) {
	t.Parallel()
	pin := recipePin(t)
	t.Run("github", func(t *testing.T) {
		t.Parallel()
		w := NewWorld(t, seed())
		r := pullRequest(t, w, 1, w.Commit("pr", "add c", map[string]string{"files/c.txt": "c\n"}))
		mustSucceed(t, r, "the plan workflow")
		install := r.Jobs["plan"].Steps["__step1"]
		if install == nil || install.Outcome != "success" || install.Outputs["version"] != pin {
			t.Fatalf("the action's install step: %+v, want version %s\n%s", install, pin, r.Logs())
		}
		log := r.Jobs["plan"].Log.String()
		if !strings.Contains(log, "desksync "+pin+" installed (release)") {
			t.Errorf("the action did not install the release:\n%s", log)
		}
		if c := w.Comments(); len(c) != 1 || !strings.Contains(c[0], "files/c.txt") {
			t.Errorf("the installed desksync did not plan: comments %q", c)
		}
	})
	t.Run("gitlab", func(t *testing.T) {
		t.Parallel()
		w := gitlabWorld(t, onRef)
		mustPass(t, w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main"), "desksync-apply")), "the deploy")
		w.CheckConverged(keptState(t, w), map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n"}, nil)
	})
}

// A download that does not match the release's SHA256SUMS is never run: the jobs
// fail saying so, and nothing reaches Desk.
func TestInstallRefusesTamperedRelease(t *testing.T) {
	t.Parallel()
	t.Run("github", func(t *testing.T) {
		t.Parallel()
		w := NewWorld(t, seed())
		w.TamperReleases.Store(true)
		r := w.RunGitHub(workflow("desksync-apply.yml"), push(w, w.Tip("main")))
		if r.Success() {
			t.Fatalf("the deploy passed with a tampered release:\n%s", r.Logs())
		}
		if log := r.Jobs["plan"].Log.String(); !strings.Contains(log, "SHA256SUMS says") {
			t.Errorf("the failure does not name the checksum mismatch:\n%s", log)
		}
		if r.Jobs["apply"].Result != "skipped" || len(w.Desk.Files()) != 0 {
			t.Errorf("apply %s, %d Desk files after a tampered install", r.Jobs["apply"].Result, len(w.Desk.Files()))
		}
	})
	t.Run("gitlab", func(t *testing.T) {
		t.Parallel()
		w := gitlabWorld(t, onRef)
		w.TamperReleases.Store(true)
		r := w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main"), "desksync-apply"))
		if r.Success() {
			t.Fatalf("the deploy passed with a tampered release:\n%s", r.Logs())
		}
		if !strings.Contains(r.Logs(), "does not match the SHA256SUMS of desksync") || len(w.Desk.Files()) != 0 {
			t.Errorf("want a failure naming the checksum mismatch and no upload; %d Desk files:\n%s", len(w.Desk.Files()), r.Logs())
		}
	})
}

var (
	usesRE    = regexp.MustCompile(`uses: desksync/desksync@(\S+)\n\s+with:\n\s+version: (\S+)\n`)
	usesAnyRE = regexp.MustCompile(`uses: desksync/desksync@`)
	glPinRE   = regexp.MustCompile(`(?m)^  DESKSYNC_VERSION: (\S+)$`)
	docPinRE  = regexp.MustCompile("The recipes pin `(v[^`]+)`")
)

// recipePin is the one release tag the recipes pin, checked to be the same in every
// GitHub step (the action's ref and its version input), in the GitLab variable and
// in docs/release.md, which says to bump them together.
func recipePin(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "release.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := docPinRE.FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/release.md does not say which tag the recipes pin (\"The recipes pin `vX.Y.Z`\")")
	}
	pin := string(m[1])
	if !releasetest.IsTag(pin) {
		t.Fatalf("docs/release.md: the recipes' pin %q is not a release tag", pin)
	}
	files, _ := filepath.Glob(filepath.Join(githubDir, "*.yml"))
	steps := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		uses := usesRE.FindAllSubmatch(data, -1)
		if n := len(usesAnyRE.FindAll(data, -1)); n != len(uses) {
			t.Errorf("%s: %d uses of desksync/desksync, %d of them with version: right after with:", f, n, len(uses))
		}
		for _, u := range uses {
			if string(u[1]) != pin || string(u[2]) != pin {
				t.Errorf("%s: uses desksync/desksync@%s with version %s; the recipes pin %s (docs/release.md)", f, u[1], u[2], pin)
			}
		}
		steps += len(uses)
	}
	if steps == 0 {
		t.Errorf("no recipe in %s uses desksync/desksync", githubDir)
	}
	gl, err := os.ReadFile(gitlabCI)
	if err != nil {
		t.Fatal(err)
	}
	if m := glPinRE.FindSubmatch(gl); m == nil || string(m[1]) != pin {
		t.Errorf("%s: DESKSYNC_VERSION is %q, want the recipes' pin %s", gitlabCI, m, pin)
	}
	return pin
}
