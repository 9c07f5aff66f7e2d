package recipetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// GitHubEvent is what starts a workflow run.
type GitHubEvent struct {
	// Name is the event: push, pull_request, workflow_dispatch, schedule, workflow_run.
	Name string
	// Ref is the branch the run is for (refs/heads/NAME), SHA its commit.
	Ref, SHA string
	// Inputs are workflow_dispatch's inputs.
	Inputs map[string]any
	// PullRequest is github.event.pull_request for pull_request events.
	PullRequest map[string]any
	// WorkflowRun is github.event.workflow_run, for workflow_run events.
	WorkflowRun map[string]any
}

// Run is one workflow run's outcome.
type Run struct {
	ID int64
	// Jobs by name; a job whose if: was false is there with Result "skipped".
	Jobs map[string]*Job
}

// Job is one job's outcome.
type Job struct {
	Result  string // success, failure or skipped
	Outputs map[string]string
	Steps   map[string]*Step
	// Log holds every step's output, for a test's failure message.
	Log strings.Builder
	// Summary is what the steps wrote to $GITHUB_STEP_SUMMARY.
	Summary string

	path []string // what the steps added to $GITHUB_PATH, the latest first
}

// Step is one step's outcome (by id, or by name when it has none).
type Step struct {
	Outcome string
	Outputs map[string]string
}

// Success reports whether no job failed.
func (r *Run) Success() bool {
	for _, j := range r.Jobs {
		if j.Result == "failure" {
			return false
		}
	}
	return true
}

// Logs is every job's log, for failure messages.
func (r *Run) Logs() string {
	var b strings.Builder
	names := make([]string, 0, len(r.Jobs))
	for n := range r.Jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "=== job %s: %s\n%s\n", n, r.Jobs[n].Result, r.Jobs[n].Log.String())
	}
	return b.String()
}

type ghWorkflow struct {
	On   yaml.Node         `yaml:"on"`
	Env  map[string]string `yaml:"env"`
	Jobs yaml.Node         `yaml:"jobs"`
}

type ghJob struct {
	If      string            `yaml:"if"`
	Needs   yaml.Node         `yaml:"needs"`
	Env     map[string]string `yaml:"env"`
	Outputs map[string]string `yaml:"outputs"`
	Steps   []ghStep          `yaml:"steps"`
}

type ghStep struct {
	Name string            `yaml:"name"`
	ID   string            `yaml:"id"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// RunGitHub runs the workflow file (a path) for ev, job after job in the order of
// their needs, each in a fresh checkout, as GitHub's hosted runner would. It
// returns nil when the workflow does not trigger on ev.
func (w *World) RunGitHub(file string, ev GitHubEvent) *Run {
	w.t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		w.t.Fatal(err)
	}
	var wf ghWorkflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		w.t.Fatalf("%s: %v", file, err)
	}
	if !triggers(w, &wf.On, ev) {
		return nil
	}
	run := &Run{ID: w.runs.Add(1), Jobs: map[string]*Job{}}
	names, jobs := w.ghJobs(file, &wf.Jobs)
	for len(run.Jobs) < len(names) {
		progressed := false
		for _, name := range names {
			j := jobs[name]
			if run.Jobs[name] != nil {
				continue
			}
			needs := nodeList(&j.Needs)
			if slices.ContainsFunc(needs, func(n string) bool { return run.Jobs[n] == nil }) {
				continue
			}
			run.Jobs[name] = w.runGitHubJob(file, run, ev, &wf, name, j, needs)
			progressed = true
		}
		if !progressed {
			w.t.Fatalf("%s: jobs whose needs never finish", file)
		}
	}
	return run
}

func (w *World) ghJobs(file string, n *yaml.Node) ([]string, map[string]*ghJob) {
	w.t.Helper()
	jobs := map[string]*ghJob{}
	var names []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		var j ghJob
		if err := n.Content[i+1].Decode(&j); err != nil {
			w.t.Fatalf("%s: job %s: %v", file, n.Content[i].Value, err)
		}
		names = append(names, n.Content[i].Value)
		jobs[n.Content[i].Value] = &j
	}
	return names, jobs
}

// nodeList reads a string-or-list YAML value.
func nodeList(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return nil
}

// triggers reports whether on: starts a run for ev: the event is listed, and for a
// push, its branch is in branches: when that is given.
func triggers(w *World, on *yaml.Node, ev GitHubEvent) bool {
	switch on.Kind {
	case yaml.ScalarNode, yaml.SequenceNode:
		return slices.Contains(nodeList(on), ev.Name)
	case yaml.MappingNode:
		for i := 0; i+1 < len(on.Content); i += 2 {
			if on.Content[i].Value != ev.Name {
				continue
			}
			var filter struct {
				Branches []string `yaml:"branches"`
			}
			if on.Content[i+1].Kind == yaml.MappingNode {
				if err := on.Content[i+1].Decode(&filter); err != nil {
					w.t.Fatal(err)
				}
			}
			if ev.Name == "push" && len(filter.Branches) > 0 {
				return slices.Contains(filter.Branches, strings.TrimPrefix(ev.Ref, "refs/heads/"))
			}
			return true
		}
	}
	return false
}

func (w *World) ghContext(run *Run, ev GitHubEvent, env map[string]string, needs []string, steps map[string]*Step) map[string]any {
	event := map[string]any{}
	if ev.PullRequest != nil {
		event["pull_request"] = ev.PullRequest
	}
	if ev.WorkflowRun != nil {
		event["workflow_run"] = ev.WorkflowRun
	}
	inputs := map[string]any{}
	for k, v := range ev.Inputs {
		inputs[k] = v
	}
	if ev.Inputs != nil {
		event["inputs"] = inputs
	}
	github := map[string]any{
		"event_name": ev.Name, "ref": ev.Ref, "sha": ev.SHA, "repository": "acme/docs",
		"run_id": fmt.Sprint(run.ID), "token": "ghs_recipetest", "event": event,
		"ref_name": strings.TrimPrefix(ev.Ref, "refs/heads/"),
	}
	anyMap := func(m map[string]string) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	needsCtx := map[string]any{}
	for _, n := range needs {
		j := run.Jobs[n]
		needsCtx[n] = map[string]any{"result": j.Result, "outputs": anyMap(j.Outputs)}
	}
	stepsCtx := map[string]any{}
	for id, s := range steps {
		stepsCtx[id] = map[string]any{"outcome": s.Outcome, "conclusion": s.Outcome, "outputs": anyMap(s.Outputs)}
	}
	return map[string]any{
		"github": github, "env": anyMap(env), "vars": anyMap(w.Vars), "secrets": anyMap(w.Secrets),
		"needs": needsCtx, "steps": stepsCtx, "inputs": inputs,
		"runner": map[string]any{"os": "Linux", "temp": ""}, "job": map[string]any{},
	}
}

func (w *World) runGitHubJob(file string, run *Run, ev GitHubEvent, wf *ghWorkflow, name string, j *ghJob, needs []string) *Job {
	w.t.Helper()
	job := &Job{Outputs: map[string]string{}, Steps: map[string]*Step{}}
	needsOK := !slices.ContainsFunc(needs, func(n string) bool { return run.Jobs[n].Result != "success" })
	jobStatus := func(fn string) bool {
		switch fn {
		case "always":
			return true
		case "success":
			return needsOK
		case "failure":
			return !needsOK
		}
		return false
	}
	ok, err := condition(j.If, w.ghContext(run, ev, nil, needs, nil), jobStatus)
	if err != nil {
		w.t.Fatalf("%s: job %s: if: %v", file, name, err)
	}
	if !ok {
		job.Result = "skipped"
		return job
	}
	if w.BeforeJob != nil {
		w.BeforeJob(name)
	}
	root := filepath.Join(w.Dir, "runs", fmt.Sprintf("%d-%s", run.ID, name))
	ws := filepath.Join(root, "work")
	home := filepath.Join(root, "home")
	for _, d := range []string{ws, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			w.t.Fatal(err)
		}
	}
	// The workflow's and job's env, each evaluated once with what it can see.
	env := map[string]string{}
	for _, layer := range []map[string]string{wf.Env, j.Env} {
		for k, v := range layer {
			s, err := interpolate(v, w.ghContext(run, ev, env, needs, nil), jobStatus)
			if err != nil {
				w.t.Fatalf("%s: job %s: env %s: %v", file, name, k, err)
			}
			env[k] = s
		}
	}
	failed := false
	stepStatus := func(fn string) bool {
		switch fn {
		case "always":
			return true
		case "success":
			return !failed
		case "failure":
			return failed
		}
		return false
	}
	for i, s := range j.Steps {
		id := s.ID
		if id == "" {
			id = fmt.Sprintf("__step%d", i)
		}
		step := &Step{Outputs: map[string]string{}}
		job.Steps[id] = step
		label := s.Name
		if label == "" {
			label = s.Uses + s.Run
		}
		ctx := w.ghContext(run, ev, env, needs, job.Steps)
		ok, err := condition(s.If, ctx, stepStatus)
		if err != nil {
			w.t.Fatalf("%s: job %s: step %q: if: %v", file, name, label, err)
		}
		if !ok {
			step.Outcome = "skipped"
			fmt.Fprintf(&job.Log, "--- step %q: skipped\n", label)
			continue
		}
		stepEnv := map[string]string{}
		for k, v := range env {
			stepEnv[k] = v
		}
		for k, v := range s.Env {
			x, err := interpolate(v, ctx, stepStatus)
			if err != nil {
				w.t.Fatalf("%s: job %s: step %q: env %s: %v", file, name, label, k, err)
			}
			stepEnv[k] = x
		}
		with := map[string]string{}
		for k, v := range s.With {
			x, err := interpolate(v, ctx, stepStatus)
			if err != nil {
				w.t.Fatalf("%s: job %s: step %q: with %s: %v", file, name, label, k, err)
			}
			with[k] = x
		}
		fmt.Fprintf(&job.Log, "--- step %q\n", label)
		var stepErr error
		switch {
		case strings.HasPrefix(s.Uses, "desksync/desksync@"):
			stepErr = w.composite(run, ev, ctx, with, stepEnv, ws, home, root, fmt.Sprint(i), step, job)
		case s.Uses != "":
			stepErr = w.uses(run, ev, s.Uses, with, ws, &job.Log)
		default:
			script, err := interpolate(s.Run, ctx, stepStatus)
			if err != nil {
				w.t.Fatalf("%s: job %s: step %q: run: %v", file, name, label, err)
			}
			stepErr = w.ghShell(run, ev, script, stepEnv, ws, ws, home, root, fmt.Sprint(i), step, job)
		}
		if stepErr != nil {
			fmt.Fprintf(&job.Log, "--- step %q failed: %v\n", label, stepErr)
			step.Outcome = "failure"
			failed = true
		} else {
			step.Outcome = "success"
		}
	}
	job.Result = "success"
	if failed {
		job.Result = "failure"
	}
	for k, v := range j.Outputs {
		x, err := interpolate(v, w.ghContext(run, ev, env, needs, job.Steps), stepStatus)
		if err != nil {
			w.t.Fatalf("%s: job %s: output %s: %v", file, name, k, err)
		}
		job.Outputs[k] = x
	}
	return job
}

// ghShell runs a run: script in dir as GitHub's default bash shell does (bash -e -o
// pipefail), with the runner's files for outputs, env, PATH and the step summary;
// tag names the step's files.
func (w *World) ghShell(run *Run, ev GitHubEvent, script string, env map[string]string, ws, dir, home, root, tag string, step *Step, job *Job) error {
	out := filepath.Join(root, "output-"+tag)
	summary := filepath.Join(root, "summary-"+tag)
	path := filepath.Join(root, "path-"+tag)
	file := filepath.Join(root, "step-"+tag+".sh")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", file)
	cmd.Dir = dir
	cmd.Env = w.baseEnv(home)
	for k, v := range map[string]string{
		"GITHUB_OUTPUT": out, "GITHUB_STEP_SUMMARY": summary, "GITHUB_ENV": filepath.Join(root, "env"), "GITHUB_PATH": path,
		"GITHUB_SHA": ev.SHA, "GITHUB_REF": ev.Ref, "GITHUB_EVENT_NAME": ev.Name, "GITHUB_RUN_ID": fmt.Sprint(run.ID),
		"GITHUB_REPOSITORY": "acme/docs", "GITHUB_WORKSPACE": ws, "RUNNER_TEMP": root, "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "CI": "true", "GITHUB_ACTIONS": "true",
	} {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// What earlier steps added to $GITHUB_PATH comes first, the latest first; the
	// last PATH= in the environment is the one the shell sees.
	if len(job.path) > 0 {
		cmd.Env = append(cmd.Env, "PATH="+strings.Join(job.path, string(os.PathListSeparator))+string(os.PathListSeparator)+w.bin+string(os.PathListSeparator)+jobPath())
	}
	cmd.Stdout, cmd.Stderr = &job.Log, &job.Log
	err := cmd.Run()
	if b, rerr := os.ReadFile(path); rerr == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				job.path = append([]string{line}, job.path...)
			}
		}
	}
	if b, rerr := os.ReadFile(out); rerr == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				step.Outputs[k] = v
			}
		}
	}
	if b, rerr := os.ReadFile(summary); rerr == nil {
		job.Summary += string(b)
	}
	return err
}

// baseEnv is a runner's environment: PATH with desksync and the stand-ins, a home
// of the job's own, and nothing of the test process's Desk or git settings.
func (w *World) baseEnv(home string) []string {
	env := []string{}
	for k, v := range w.RunnerEnv {
		env = append(env, k+"="+v)
	}
	return append(env,
		"PATH="+w.bin+string(os.PathListSeparator)+jobPath(),
		"RECIPETEST_RELEASES="+w.Releases.URL+"/releases", "RECIPETEST_CURL="+harness.curl,
		"HOME="+home, "TMPDIR="+home, "LANG=C.UTF-8", "NO_COLOR=1",
		"FORGE_DIR="+w.forge, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_DATE=", "GIT_COMMITTER_DATE=",
	)
}

// uses runs the actions the recipes use, as they behave on a hosted runner.
func (w *World) uses(run *Run, ev GitHubEvent, action string, with map[string]string, ws string, log *strings.Builder) error {
	name, _, _ := strings.Cut(action, "@")
	switch name {
	case "actions/checkout":
		return w.checkout(ws, with["ref"], ev, log)
	// actions/cache misses: every job starts on a fresh runner.
	case "actions/setup-go", "aws-actions/configure-aws-credentials", "actions/cache":
		return nil
	case "actions/upload-artifact":
		dst := filepath.Join(w.Dir, "artifacts", fmt.Sprintf("%d", run.ID), with["name"])
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		n := 0
		for _, p := range strings.Split(with["path"], "\n") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(ws, p))
			if err != nil {
				continue // upload-artifact warns about a missing path and goes on
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, p)), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dst, p), data, 0o644); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			fmt.Fprintf(log, "Warning: no files found for artifact %s\n", with["name"])
			return nil
		}
		w.artifact[fmt.Sprintf("%d/%s", run.ID, with["name"])] = dst
		return nil
	case "actions/download-artifact":
		id := fmt.Sprint(run.ID)
		if with["run-id"] != "" {
			id = with["run-id"]
		}
		src := w.artifact[id+"/"+with["name"]]
		if src == "" {
			return fmt.Errorf("no artifact %s in run %s", with["name"], id)
		}
		return exec.Command("cp", "-R", src+"/.", ws).Run()
	}
	return fmt.Errorf("recipetest does not know the action %s", action)
}

// checkout clones the remote into ws as actions/checkout does: ref when given (a
// branch at its tip or a commit), else the event's commit on its branch.
func (w *World) checkout(ws, ref string, ev GitHubEvent, log *strings.Builder) error {
	git := func(args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = ws
		cmd.Env = w.baseEnv(ws)
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	if err := git("clone", "-q", w.Remote, "."); err != nil {
		return err
	}
	switch {
	case ref != "" && w.Tip(ref) != "" && !isSHA(ref):
		return git("checkout", "-q", "-B", ref, "origin/"+ref)
	case ref != "":
		return git("checkout", "-q", "--detach", ref)
	case ev.Name == "pull_request" || ev.Name == "workflow_run":
		return git("checkout", "-q", "--detach", ev.SHA)
	}
	branch := strings.TrimPrefix(ev.Ref, "refs/heads/")
	return git("checkout", "-q", "-B", branch, ev.SHA)
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
