package recipetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/command"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	// desksync on PATH is this test binary, re-executed: the recipes run the real CLI.
	// seaweedtest.Main runs one SeaweedFS for the S3 recipe's run when DESKSYNC_WEED names it.
	testscript.Main(seaweedtest.Main(m), map[string]func(){
		"desksync": func() { os.Exit(command.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

var githubDir = filepath.Join("..", "..", "examples", "github-actions")

func workflow(name string) string { return filepath.Join(githubDir, name) }

const manifest = `version: 1
attachments:
  - path: "files/*.txt"
`

// seed is main's first commit: the manifest, two attachments and the
// .gitattributes line of the state's merge driver, as desksync init writes it.
func seed() map[string]string {
	return map[string]string{
		"desksync.yaml":  manifest,
		".gitattributes": "desksync.state.json merge=desksync\n",
		"files/a.txt":    "a\n",
		"files/b.txt":    "b\n",
	}
}

// onMain is the state-in-main variant: the state committed on main by the bot.
func onMain(w *World) { w.Vars["DESKSYNC_STATE"] = "desksync.state.json" }

// homes are the state homes the runs that do not depend on one cover, each set by
// the variable the recipes read (DESKSYNC_STATE).
var homes = map[string]func(*World){"main": onMain}

// forHomes runs fn once per home, in parallel.
func forHomes(t *testing.T, fn func(t *testing.T, home func(*World))) {
	t.Parallel()
	for name, home := range homes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, home)
		})
	}
}

func push(w *World, sha string) GitHubEvent {
	return GitHubEvent{Name: "push", Ref: "refs/heads/main", SHA: sha}
}

func mustSucceed(t *testing.T, r *Run, what string) {
	t.Helper()
	if r == nil {
		t.Fatalf("%s: the workflow did not start", what)
	}
	if !r.Success() {
		t.Fatalf("%s failed:\n%s", what, r.Logs())
	}
}

// keptState is the state where the recipe keeps it.
func keptState(t *testing.T, w *World) string {
	t.Helper()
	s := w.KeptState()
	if s == "" {
		t.Fatalf("no state where the recipe keeps it (DESKSYNC_STATE %q)", w.Vars["DESKSYNC_STATE"])
	}
	return s
}

// Two merges pushed before either run starts: the first run applies the tip (both
// merges), the second finds nothing to do; nothing is uploaded twice.
func TestGitHubTwoMergesBeforeEitherRun(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := NewWorld(t, seed())
		home(w)
		x := w.Commit("main", "add c", map[string]string{"files/c.txt": "c\n"})
		y := w.Commit("main", "add d", map[string]string{"files/d.txt": "d\n"})
		r1 := w.RunGitHub(workflow("desksync-apply.yml"), push(w, x))
		mustSucceed(t, r1, "the run for the first merge")
		if r1.Jobs["apply"].Result != "success" {
			t.Fatalf("the first run did not apply:\n%s", r1.Logs())
		}
		r2 := w.RunGitHub(workflow("desksync-apply.yml"), push(w, y))
		mustSucceed(t, r2, "the run for the second merge")
		if got := r2.Jobs["apply"].Result; got != "skipped" {
			t.Errorf("the second run's apply is %s, want skipped (nothing left to do):\n%s", got, r2.Logs())
		}
		want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n", "files/c.txt": "c\n", "files/d.txt": "d\n"}
		w.CheckConverged(keptState(t, w), want, nil)
	})
}

// main moves while a person approves: the approved plan is not applied to a tree it
// was not made from; the run exits 0 saying so, and the newer run applies the tip.
func TestGitHubMainMovesDuringApproval(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := NewWorld(t, seed())
		home(w)
		x := w.Commit("main", "add c", map[string]string{"files/c.txt": "c\n"})
		var z string
		w.BeforeJob = func(job string) {
			if job == "apply" && z == "" {
				z = w.Commit("main", "add d", map[string]string{"files/d.txt": "d\n"})
			}
		}
		r1 := w.RunGitHub(workflow("desksync-apply.yml"), push(w, x))
		mustSucceed(t, r1, "the run whose plan went stale")
		if !strings.Contains(r1.Jobs["apply"].Log.String(), "main moved from") {
			t.Errorf("the run does not say that main moved:\n%s", r1.Logs())
		}
		if n := len(w.Desk.Files()); n != 0 {
			t.Errorf("%d Desk files after a run whose plan went stale, want 0", n)
		}
		if !strings.Contains(r1.Jobs["plan"].Summary, "**Plan:** 3 to create") {
			t.Errorf("the approver's summary does not show the plan:\n%s", r1.Jobs["plan"].Summary)
		}
		w.BeforeJob = nil
		mustSucceed(t, w.RunGitHub(workflow("desksync-apply.yml"), push(w, z)), "the newer run")
		want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n", "files/c.txt": "c\n", "files/d.txt": "d\n"}
		w.CheckConverged(keptState(t, w), want, nil)
	})
}

// The bot's push of the state is refused by the server (branch protection): the job
// fails loudly, keeps the state as an artifact, and once a person commits it as the
// error says, the next run uploads nothing again.
func TestGitHubStatePushRejected(t *testing.T) {
	t.Parallel()
	w := NewWorld(t, seed())
	onMain(w)
	w.RejectBotPushes()
	r := w.RunGitHub(workflow("desksync-apply.yml"), push(w, w.Tip("main")))
	if r.Success() || r.Jobs["apply"].Result != "failure" {
		t.Fatalf("a refused state push did not fail the run:\n%s", r.Logs())
	}
	if log := r.Jobs["apply"].Log.String(); !strings.Contains(log, "desksync state not saved") || !strings.Contains(log, fmt.Sprintf("desksync-state-%d", r.ID)) {
		t.Errorf("the failure does not say where the state is:\n%s", log)
	}
	dir := w.Artifact(r.ID, fmt.Sprintf("desksync-state-%d", r.ID))
	if dir == "" {
		t.Fatalf("no state artifact:\n%s", r.Logs())
	}
	kept, err := os.ReadFile(filepath.Join(dir, "desksync.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n"}
	w.CheckConverged(string(kept), want, nil)
	if w.Show("refs/heads/main", "desksync.state.json") != "" {
		t.Fatal("the hook let the state onto main")
	}

	// The recovery docs/ci.md gives: commit the artifact's state to main.
	w.Commit("main", "Restore the state of the refused push", map[string]string{"desksync.state.json": string(kept)})
	r2 := w.RunGitHub(workflow("desksync-apply.yml"), push(w, w.Tip("main")))
	mustSucceed(t, r2, "the run after the recovery")
	w.CheckConverged(keptState(t, w), want, nil)
}

// workflow_dispatch started on a feature branch deploys nothing and pushes nothing.
func TestGitHubDispatchFromFeatureBranch(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := NewWorld(t, seed())
		home(w)
		before := w.Tip("main")
		f := w.Commit("feature", "unreviewed", map[string]string{"files/evil.txt": "evil\n"})
		for _, file := range []string{"desksync-apply.yml", "desksync-drift.yml"} {
			ev := GitHubEvent{Name: "workflow_dispatch", Ref: "refs/heads/feature", SHA: f, Inputs: map[string]any{"repair": true}}
			r := w.RunGitHub(workflow(file), ev)
			if r == nil {
				t.Fatalf("%s does not start on workflow_dispatch", file)
			}
			for name, j := range r.Jobs {
				if j.Result != "skipped" && name != "drift" {
					t.Errorf("%s: job %s ran (%s) for a dispatch from a feature branch:\n%s", file, name, j.Result, r.Logs())
				}
			}
		}
		if n := len(w.Desk.Files()); n != 0 {
			t.Errorf("%d Desk files after a dispatch from a feature branch, want 0", n)
		}
		if w.Tip("main") != before {
			t.Error("main moved")
		}
	})
}

// A file deleted on Desk: the scheduled check fails naming the repair, the repair
// (dispatch with repair ticked) uploads it again and saves the state.
func TestGitHubDriftRepaired(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := NewWorld(t, seed())
		home(w)
		mustSucceed(t, w.RunGitHub(workflow("desksync-apply.yml"), push(w, w.Tip("main"))), "the first deploy")
		for _, f := range w.Desk.Files() {
			if f.Filename == "a.txt" {
				if err := w.Desk.Remove(f.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		check := w.RunGitHub(workflow("desksync-drift.yml"), GitHubEvent{Name: "schedule", Ref: "refs/heads/main", SHA: w.Tip("main")})
		if check.Success() || !strings.Contains(check.Jobs["drift"].Log.String(), "repair ticked") {
			t.Fatalf("the drift check did not fail naming the repair:\n%s", check.Logs())
		}
		if check.Jobs["repair"].Result != "skipped" {
			t.Errorf("the scheduled run repaired: %s", check.Jobs["repair"].Result)
		}
		repair := w.RunGitHub(workflow("desksync-drift.yml"), GitHubEvent{Name: "workflow_dispatch", Ref: "refs/heads/main", SHA: w.Tip("main"), Inputs: map[string]any{"repair": true}})
		mustSucceed(t, repair, "the repair")
		if repair.Jobs["repair"].Result != "success" || repair.Jobs["drift"].Result != "skipped" {
			t.Fatalf("the repair did not run as the repair job:\n%s", repair.Logs())
		}
		want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n"}
		w.CheckConverged(keptState(t, w), want, map[string]int{"files/a.txt": 2})
		again := w.RunGitHub(workflow("desksync-drift.yml"), GitHubEvent{Name: "schedule", Ref: "refs/heads/main", SHA: w.Tip("main")})
		mustSucceed(t, again, "the drift check after the repair")
	})
}

// pullRequest runs the plan workflow on a pull request at sha, then the comment
// workflow on its completion, and returns the plan run.
func pullRequest(t *testing.T, w *World, n int, sha string) *Run {
	t.Helper()
	w.SetPullHead(n, sha)
	pr := map[string]any{"number": float64(n), "head": map[string]any{"sha": sha, "repo": map[string]any{"full_name": "acme/docs"}}}
	r := w.RunGitHub(workflow("desksync-plan.yml"), GitHubEvent{Name: "pull_request", Ref: "refs/pull/1/merge", SHA: sha, PullRequest: pr})
	if r == nil {
		t.Fatal("the plan workflow does not start on pull_request")
	}
	c := w.RunGitHub(workflow("desksync-plan-comment.yml"), GitHubEvent{Name: "workflow_run", Ref: "refs/heads/main", SHA: w.Tip("main"),
		WorkflowRun: map[string]any{"event": "pull_request", "id": fmt.Sprint(r.ID), "head_sha": sha}})
	mustSucceed(t, c, "the comment workflow")
	return r
}

// A pull request with a broken manifest: the plan fails, and the comment shows
// desksync's error with its position, not an empty body.
func TestGitHubPullRequestBrokenManifest(t *testing.T) {
	forHomes(t, func(t *testing.T, home func(*World)) {
		w := NewWorld(t, seed())
		home(w)
		sha := w.Commit("broken", "break the manifest", map[string]string{"desksync.yaml": "version: 1\nattachments:\n  - path: files/a.txt\n    disposition: inline\n"})
		r := pullRequest(t, w, 7, sha)
		if r.Success() {
			t.Errorf("the plan of a broken manifest passed:\n%s", r.Logs())
		}
		comments := w.Comments()
		if len(comments) != 1 {
			t.Fatalf("%d comments, want 1", len(comments))
		}
		for _, want := range []string{"<!-- desksync-plan -->", "desksync plan failed", "desksync.yaml:4:", "disposition"} {
			if !strings.Contains(comments[0], want) {
				t.Errorf("the comment lacks %q:\n%s", want, comments[0])
			}
		}
		// A fix pushed to the pull request updates the same comment.
		fixed := w.Commit("broken", "fix the manifest", map[string]string{"desksync.yaml": manifest, "files/e.txt": "e\n"})
		pullRequest(t, w, 7, fixed)
		comments = w.Comments()
		if len(comments) != 1 || !strings.Contains(comments[0], "files/e.txt") {
			t.Errorf("the comment was not updated in place with the new plan: %q", comments)
		}
	})
}

// A pull request adding 3,000 files: the comment is desksync's own markdown, cut by
// desksync alone, within GitHub's limit and with its note on what was left out.
func TestGitHubPullRequestThreeThousandFiles(t *testing.T) {
	t.Parallel()
	if os.Getenv("DESKSYNC_LONG_TESTS") == "" {
		t.Skip("set DESKSYNC_LONG_TESTS=1 to run the 3,000-file pull request")
	}
	w := NewWorld(t, seed())
	onMain(w)
	files := map[string]string{}
	for i := range 3000 {
		files[fmt.Sprintf("files/new-%04d-with-a-longer-name-for-the-table.txt", i)] = fmt.Sprintf("%d\n", i)
	}
	sha := w.Commit("many", "add 3000 files", files)
	r := pullRequest(t, w, 9, sha)
	mustSucceed(t, r, "the plan of 3,000 files")
	comments := w.Comments()
	if len(comments) != 1 {
		t.Fatalf("%d comments, want 1", len(comments))
	}
	c := comments[0]
	if len(c) > 65536 {
		t.Errorf("the comment is %d characters, over GitHub's 65,536", len(c))
	}
	if !strings.Contains(c, "**Plan:** 3002 to create") || !strings.Contains(c, "entries (changes, cleanups, diffs) are not shown") {
		t.Errorf("the comment lacks the summary or desksync's note on what it left out:\n%.600s…%s", c, c[max(0, len(c)-600):])
	}
	lines := strings.Split(strings.TrimSuffix(c, "\n"), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "| ") && !strings.HasSuffix(l, " |") {
			t.Errorf("a table row was cut: %q", l)
		}
	}
}
