package recipetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var gitlabDir = filepath.Join("..", "..", "examples", "gitlab-ci")

var gitlabCI = filepath.Join(gitlabDir, ".gitlab-ci.yml")

// gitlabWorld is a project with the CI/CD variables the recipe asks for and the
// state's home set by home.
func gitlabWorld(t *testing.T, home func(*World)) *World {
	w := NewWorld(t, seed())
	w.Secrets["DESKSYNC_GITLAB_TOKEN"] = "glpat-recipetest"
	home(w)
	return w
}

func pushPipeline(sha string, play ...string) GitLabPipeline {
	return GitLabPipeline{Variables: map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
		"CI_COMMIT_REF_NAME": "main", "CI_COMMIT_SHA": sha}, Play: play}
}

func mustPass(t *testing.T, r *Run, what string) {
	t.Helper()
	if r == nil {
		t.Fatalf("%s: no pipeline", what)
	}
	if !r.Success() {
		t.Fatalf("%s failed:\n%s", what, r.Logs())
	}
}

// Two merges pushed before either pipeline starts: the first deploy applies the tip,
// the second has nothing to do.
func TestGitLabTwoMergesBeforeEitherPipeline(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := gitlabWorld(t, home)
		x := w.Commit("main", "add c", map[string]string{"files/c.txt": "c\n"})
		y := w.Commit("main", "add d", map[string]string{"files/d.txt": "d\n"})
		r1 := w.RunGitLab(gitlabCI, pushPipeline(x, "desksync-apply"))
		mustPass(t, r1, "the first pipeline")
		if r1.Jobs["desksync-deploy/desksync-apply"] == nil || r1.Jobs["desksync-deploy/desksync-apply"].Result != "success" {
			t.Fatalf("the first pipeline did not apply:\n%s", r1.Logs())
		}
		r2 := w.RunGitLab(gitlabCI, pushPipeline(y, "desksync-apply"))
		mustPass(t, r2, "the second pipeline")
		if !strings.Contains(r2.Jobs["desksync-deploy/desksync-apply"].Log.String(), "No changes to apply.") {
			t.Errorf("the second deploy did not find everything applied:\n%s", r2.Logs())
		}
		want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n", "files/c.txt": "c\n", "files/d.txt": "d\n"}
		w.CheckConverged(keptState(t, w), want, nil)
	})
}

// Until a person plays the apply job nothing changes on Desk; the default branch
// moving meanwhile makes the deploy exit 0 and leave the tip to the newer pipeline.
func TestGitLabApprovalAndMovedBranch(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := gitlabWorld(t, home)
		r := w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main")))
		mustPass(t, r, "the pipeline waiting for approval")
		if got := r.Jobs["desksync-deploy/desksync-apply"].Result; got != "manual" || len(w.Desk.Files()) != 0 {
			t.Fatalf("apply is %s with %d Desk files before approval:\n%s", got, len(w.Desk.Files()), r.Logs())
		}
		var z string
		w.BeforeJob = func(job string) {
			if job == "desksync-apply" && z == "" {
				z = w.Commit("main", "add d", map[string]string{"files/d.txt": "d\n"})
			}
		}
		r = w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main"), "desksync-apply"))
		mustPass(t, r, "the deploy whose plan went stale")
		if !strings.Contains(r.Jobs["desksync-deploy/desksync-apply"].Log.String(), "moved from") || len(w.Desk.Files()) != 0 {
			t.Fatalf("a stale plan was applied:\n%s", r.Logs())
		}
		w.BeforeJob = nil
		mustPass(t, w.RunGitLab(gitlabCI, pushPipeline(z, "desksync-apply")), "the newer pipeline")
		w.CheckConverged(keptState(t, w), map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n", "files/d.txt": "d\n"}, nil)
	})
}

// The state push refused by the server: the job fails saying so, its artifacts keep
// the state, and once that is committed the next deploy uploads nothing again.
func TestGitLabStatePushRejected(t *testing.T) {
	t.Parallel()
	w := gitlabWorld(t, onMain)
	w.RejectBotPushes()
	r := w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main"), "desksync-apply"))
	if r.Success() || !strings.Contains(r.Logs(), "desksync state not saved") {
		t.Fatalf("a refused state push did not fail loudly:\n%s", r.Logs())
	}
	dir := w.LatestArtifact("desksync-apply")
	if dir == "" {
		t.Fatalf("the apply job kept no artifacts:\n%s", r.Logs())
	}
	kept, err := os.ReadFile(filepath.Join(dir, "desksync.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n"}
	w.CheckConverged(string(kept), want, nil)
	w.Commit("main", "Restore the state of the refused push", map[string]string{"desksync.state.json": string(kept)})
	mustPass(t, w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main"), "desksync-apply")), "the deploy after the recovery")
	w.CheckConverged(keptState(t, w), want, nil)
}

// A pipeline run by hand on a feature branch deploys nothing, even with every
// manual job played.
func TestGitLabManualPipelineOnFeatureBranch(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := gitlabWorld(t, home)
		f := w.Commit("feature", "unreviewed", map[string]string{"files/evil.txt": "evil\n"})
		for _, source := range []string{"web", "schedule"} {
			r := w.RunGitLab(gitlabCI, GitLabPipeline{Variables: map[string]string{"CI_PIPELINE_SOURCE": source, "CI_COMMIT_BRANCH": "feature",
				"CI_COMMIT_REF_NAME": "feature", "CI_COMMIT_SHA": f}, Play: []string{"desksync-apply", "desksync-repair"}})
			if r == nil {
				continue
			}
			for name := range r.Jobs {
				if strings.HasPrefix(name, "desksync-deploy") || strings.HasPrefix(name, "desksync-repair") {
					t.Errorf("%s pipeline on a feature branch runs %s:\n%s", source, name, r.Logs())
				}
			}
		}
		if n := len(w.Desk.Files()); n != 0 {
			t.Errorf("%d Desk files after pipelines on a feature branch, want 0", n)
		}
	})
}

// Drift made on Desk: the scheduled check fails naming the repair; playing
// desksync-repair uploads the lost file again and saves the state.
func TestGitLabDriftRepaired(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := gitlabWorld(t, home)
		mustPass(t, w.RunGitLab(gitlabCI, pushPipeline(w.Tip("main"), "desksync-apply")), "the first deploy")
		for _, f := range w.Desk.Files() {
			if f.Filename == "a.txt" {
				if err := w.Desk.Remove(f.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		schedule := func(play ...string) GitLabPipeline {
			return GitLabPipeline{Variables: map[string]string{"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main",
				"CI_COMMIT_REF_NAME": "main", "CI_COMMIT_SHA": w.Tip("main")}, Play: play}
		}
		check := w.RunGitLab(gitlabCI, schedule())
		if check.Success() || !strings.Contains(check.Jobs["desksync-drift"].Log.String(), "play the job desksync-repair") {
			t.Fatalf("the drift check did not fail naming the repair:\n%s", check.Logs())
		}
		repair := w.RunGitLab(gitlabCI, schedule("desksync-repair"))
		if r := repair.Jobs["desksync-repair"]; r == nil || r.Result != "success" {
			t.Fatalf("the repair did not run:\n%s", repair.Logs())
		}
		w.CheckConverged(keptState(t, w), map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n"}, map[string]int{"files/a.txt": 2})
		if after := w.RunGitLab(gitlabCI, schedule()); !after.Success() {
			t.Errorf("the drift check still fails after the repair:\n%s", after.Logs())
		}
	})
}

// A merge request with a broken manifest: the job fails and the note shows
// desksync's error with its position.
func TestGitLabMergeRequestBrokenManifest(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := gitlabWorld(t, home)
		sha := w.Commit("broken", "break the manifest", map[string]string{"desksync.yaml": "version: 1\nattachments:\n  - path: files/a.txt\n    disposition: inline\n"})
		mr := func(sha string) *Run {
			return w.RunGitLab(gitlabCI, GitLabPipeline{Variables: map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event",
				"CI_COMMIT_REF_NAME": "broken", "CI_COMMIT_SHA": sha, "CI_MERGE_REQUEST_IID": "7"}})
		}
		if r := mr(sha); r.Success() {
			t.Errorf("the plan of a broken manifest passed:\n%s", r.Logs())
		}
		notes := w.Comments()
		if len(notes) != 1 {
			t.Fatalf("%d notes, want 1", len(notes))
		}
		for _, want := range []string{"<!-- desksync-plan -->", "desksync plan failed", "desksync.yaml:4:", "disposition"} {
			if !strings.Contains(notes[0], want) {
				t.Errorf("the note lacks %q:\n%s", want, notes[0])
			}
		}
		fixed := w.Commit("broken", "fix the manifest", map[string]string{"desksync.yaml": manifest, "files/e.txt": "e\n"})
		mustPass(t, mr(fixed), "the plan of the fixed merge request")
		if notes = w.Comments(); len(notes) != 1 || !strings.Contains(notes[0], "files/e.txt") {
			t.Errorf("the note was not updated in place: %q", notes)
		}
	})
}

// A merge request adding 3,000 files: the note is desksync's own markdown, whole,
// with its summary and its note on the rows it left out.
func TestGitLabMergeRequestThreeThousandFiles(t *testing.T) {
	t.Parallel()
	if os.Getenv("DESKSYNC_LONG_TESTS") == "" {
		t.Skip("set DESKSYNC_LONG_TESTS=1 to run the 3,000-file merge request")
	}
	w := gitlabWorld(t, onMain)
	files := map[string]string{}
	for i := range 3000 {
		files[fmt.Sprintf("files/new-%04d-with-a-longer-name-for-the-table.txt", i)] = fmt.Sprintf("%d\n", i)
	}
	sha := w.Commit("many", "add 3000 files", files)
	r := w.RunGitLab(gitlabCI, GitLabPipeline{Variables: map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event",
		"CI_COMMIT_REF_NAME": "many", "CI_COMMIT_SHA": sha, "CI_MERGE_REQUEST_IID": "9"}})
	mustPass(t, r, "the plan of 3,000 files")
	notes := w.Comments()
	if len(notes) != 1 {
		t.Fatalf("%d notes, want 1", len(notes))
	}
	n := notes[0]
	if !strings.Contains(n, "**Plan:** 3002 to create") || !strings.Contains(n, "entries (changes, cleanups, diffs) are not shown") || !strings.HasSuffix(strings.TrimSpace(n), "._") {
		t.Errorf("the note is not desksync's markdown, whole:\n%.600s…%s", n, n[max(0, len(n)-600):])
	}
}
