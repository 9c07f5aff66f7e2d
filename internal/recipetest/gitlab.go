package recipetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// GitLabPipeline is what starts a pipeline: its predefined variables
// (CI_PIPELINE_SOURCE, CI_COMMIT_SHA, CI_COMMIT_BRANCH, CI_MERGE_REQUEST_IID, …),
// and the manual jobs a person plays.
type GitLabPipeline struct {
	Variables map[string]string
	Play      []string
}

// gitlabReserved are the top-level keys of a pipeline file that are not jobs.
var gitlabReserved = []string{"variables", "stages", "include", "default", "workflow", "image", "services", "cache", "before_script", "after_script"}

// gitlabJobsOf reads a pipeline file into its jobs (extends resolved) and its
// global variables and stages.
func (w *World) gitlabFile(file string) (jobs map[string]map[string]any, names []string, vars map[string]string, stages []string) {
	w.t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		w.t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		w.t.Fatalf("%s: %v", file, err)
	}
	root := doc.Content[0]
	all := map[string]map[string]any{}
	vars = map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		switch key {
		case "variables":
			if err := val.Decode(&vars); err != nil {
				w.t.Fatalf("%s: variables: %v", file, err)
			}
			continue
		case "stages":
			if err := val.Decode(&stages); err != nil {
				w.t.Fatalf("%s: stages: %v", file, err)
			}
			continue
		}
		if slices.Contains(gitlabReserved, key) {
			w.t.Fatalf("%s: recipetest does not know the top-level %s", file, key)
		}
		var m map[string]any
		if err := val.Decode(&m); err != nil {
			w.t.Fatalf("%s: job %s: %v", file, key, err)
		}
		all[key] = m
		if !strings.HasPrefix(key, ".") {
			names = append(names, key)
		}
	}
	jobs = map[string]map[string]any{}
	for _, name := range names {
		j := all[name]
		if ext, ok := j["extends"].(string); ok {
			merged := map[string]any{}
			for k, v := range all[ext] {
				merged[k] = v
			}
			for k, v := range j {
				merged[k] = v
			}
			j = merged
		}
		jobs[name] = j
	}
	if len(stages) == 0 {
		stages = []string{"build", "test", "deploy"}
	}
	return jobs, names, vars, stages
}

// RunGitLab runs the pipeline file for p: the jobs whose rules: admit them, stage by
// stage (needs: respected), manual jobs only when played, child pipelines of
// trigger: include run in place (strategy: depend). It returns the run, or nil when
// no job was admitted.
func (w *World) RunGitLab(file string, p GitLabPipeline) *Run {
	w.t.Helper()
	jobs, names, fileVars, stages := w.gitlabFile(file)
	vars := map[string]string{"CI_DEFAULT_BRANCH": "main", "CI_PROJECT_PATH": "acme/docs", "CI_PROJECT_ID": "1",
		"CI_SERVER_HOST": "gitlab.example.com", "CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI": "true", "GITLAB_CI": "true"}
	for k, v := range fileVars {
		vars[k] = v
	}
	for k, v := range w.Secrets {
		vars[k] = v
	}
	for k, v := range w.Vars {
		vars[k] = v
	}
	for k, v := range p.Variables {
		vars[k] = v
	}
	if sha := vars["CI_COMMIT_SHA"]; len(sha) >= 8 {
		vars["CI_COMMIT_SHORT_SHA"] = sha[:8]
	}
	run := &Run{ID: w.runs.Add(1), Jobs: map[string]*Job{}}
	in := map[string]admitted{}
	for _, name := range names {
		when, ok, err := gitlabRules(jobs[name], vars)
		if err != nil {
			w.t.Fatalf("%s: job %s: rules: %v", file, name, err)
		}
		if ok {
			in[name] = admitted{when}
		}
	}
	if len(in) == 0 {
		return nil
	}
	failedStages := false
	for _, stage := range stages {
		stageFailed := false
		for _, name := range names {
			a, ok := in[name]
			j := jobs[name]
			if !ok || fmt.Sprint(j["stage"]) != stage && !(j["stage"] == nil && stage == "test") {
				continue
			}
			job := &Job{Outputs: map[string]string{}, Steps: map[string]*Step{}}
			run.Jobs[name] = job
			needs := gitlabNeeds(j, in)
			prior := !failedStages
			if needs != nil {
				prior = !slices.ContainsFunc(needs, func(n string) bool { return run.Jobs[n] == nil || run.Jobs[n].Result == "failure" })
			}
			switch {
			case a.when == "manual" && !slices.Contains(p.Play, name):
				job.Result = "manual"
				continue
			case a.when == "always":
			case a.when == "on_failure":
				if prior {
					job.Result = "skipped"
					continue
				}
			case !prior:
				job.Result = "skipped"
				continue
			}
			if w.BeforeJob != nil {
				w.BeforeJob(name)
			}
			w.runGitLabJob(file, run, name, j, vars, needs, p.Play, job)
			if job.Result == "failure" {
				if af, _ := j["allow_failure"].(bool); !af {
					stageFailed = true
				}
			}
		}
		failedStages = failedStages || stageFailed
	}
	return run
}

// admitted is a job its rules: let into the pipeline, with its when:.
type admitted struct{ when string }

// gitlabNeeds returns the job names a job needs (optional ones only when in the
// pipeline), or nil when it has no needs: and waits for the earlier stages.
func gitlabNeeds(j map[string]any, in map[string]admitted) []string {
	list, ok := j["needs"].([]any)
	if !ok {
		return nil
	}
	out := []string{}
	for _, n := range list {
		switch n := n.(type) {
		case string:
			out = append(out, n)
		case map[string]any:
			name := fmt.Sprint(n["job"])
			if opt, _ := n["optional"].(bool); opt {
				if _, ok := in[name]; !ok {
					continue
				}
			}
			out = append(out, name)
		}
	}
	return out
}

// gitlabRules applies rules: the first rule whose if: holds decides (its when:,
// on_success by default; never excludes); no rule matching excludes the job; a job
// without rules runs with its own when:.
func gitlabRules(j map[string]any, vars map[string]string) (string, bool, error) {
	when := "on_success"
	if s, ok := j["when"].(string); ok {
		when = s
	}
	rules, ok := j["rules"].([]any)
	if !ok {
		return when, true, nil
	}
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		if cond, ok := rule["if"].(string); ok {
			holds, err := evalGitLab(cond, vars)
			if err != nil {
				return "", false, err
			}
			if !holds {
				continue
			}
		}
		if s, ok := rule["when"].(string); ok {
			when = s
		}
		return when, when != "never", nil
	}
	return "", false, nil
}

func (w *World) runGitLabJob(file string, run *Run, name string, j map[string]any, vars map[string]string, needs, play []string, job *Job) {
	w.t.Helper()
	jobVars := map[string]string{}
	for k, v := range vars {
		jobVars[k] = v
	}
	if jv, ok := j["variables"].(map[string]any); ok {
		for k, v := range jv {
			jobVars[k] = fmt.Sprint(v)
		}
	}
	if trig, ok := j["trigger"].(map[string]any); ok {
		child := filepath.Join(filepath.Dir(file), filepath.Base(fmt.Sprint(trig["include"])))
		cv := map[string]string{}
		for k, v := range jobVars {
			cv[k] = v
		}
		cv["CI_PIPELINE_SOURCE"] = "parent_pipeline"
		sub := w.RunGitLab(child, GitLabPipeline{Variables: cv, Play: play})
		job.Result = "success"
		if sub == nil {
			return
		}
		for n, cj := range sub.Jobs {
			run.Jobs[name+"/"+n] = cj
			fmt.Fprintf(&job.Log, "=== child job %s: %s\n%s", n, cj.Result, cj.Log.String())
		}
		if !sub.Success() {
			job.Result = "failure"
		}
		return
	}
	root := filepath.Join(w.Dir, "runs", fmt.Sprintf("%d-%s", run.ID, name))
	ws, home := filepath.Join(root, "work"), filepath.Join(root, "home")
	for _, d := range []string{ws, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			w.t.Fatal(err)
		}
	}
	w.gitlabHome(home, jobVars["DESKSYNC_GITLAB_TOKEN"])
	env := append(w.baseEnv(home), "CI_PROJECT_DIR="+ws, fmt.Sprintf("CI_JOB_ID=%d", run.ID))
	for k, v := range jobVars {
		env = append(env, k+"="+v)
	}
	// The runner's checkout: the pipeline's commit, detached.
	clone := exec.Command("bash", "-c", `git clone -q "$1" . && git checkout -q --detach "$2"`, "clone", w.Remote, jobVars["CI_COMMIT_SHA"])
	clone.Dir, clone.Env, clone.Stdout, clone.Stderr = ws, env, &job.Log, &job.Log
	if err := clone.Run(); err != nil {
		job.Result = "failure"
		fmt.Fprintf(&job.Log, "checkout failed: %v\n", err)
		return
	}
	// Artifacts of the jobs it needs, or of every earlier job.
	from := needs
	if from == nil {
		for n := range run.Jobs {
			from = append(from, n)
		}
	}
	for _, n := range from {
		if src := w.artifact[fmt.Sprintf("%d/%s", run.ID, n)]; src != "" {
			if err := exec.Command("cp", "-R", src+"/.", ws).Run(); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	var lines []string
	for _, key := range []string{"before_script", "script"} {
		list, _ := j[key].([]any)
		for _, l := range list {
			lines = append(lines, fmt.Sprint(l))
		}
	}
	script := filepath.Join(root, "script.sh")
	if err := os.WriteFile(script, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = ws, env, &job.Log, &job.Log
	err := cmd.Run()
	job.Result = "success"
	if err != nil {
		job.Result = "failure"
		fmt.Fprintf(&job.Log, "job failed: %v\n", err)
	}
	if art, ok := j["artifacts"].(map[string]any); ok {
		when := "on_success"
		if s, ok := art["when"].(string); ok {
			when = s
		}
		if when == "always" || (when == "on_success") == (job.Result == "success") {
			dst := filepath.Join(w.Dir, "artifacts", fmt.Sprint(run.ID), name)
			paths, _ := art["paths"].([]any)
			kept := 0
			for _, p := range paths {
				data, err := os.ReadFile(filepath.Join(ws, fmt.Sprint(p)))
				if err != nil {
					continue
				}
				if err := os.MkdirAll(dst, 0o755); err != nil {
					w.t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dst, fmt.Sprint(p)), data, 0o644); err != nil {
					w.t.Fatal(err)
				}
				kept++
			}
			if kept > 0 {
				w.artifact[fmt.Sprintf("%d/%s", run.ID, name)] = dst
			}
		}
	}
}

// gitlabHome makes the job's git send the project's https URL (with the access
// token, as the recipes set it) to the local remote, and lets the remote take the
// push options GitLab takes (ci.skip).
func (w *World) gitlabHome(home, token string) {
	w.t.Helper()
	cfg := fmt.Sprintf("[url %q]\n\tinsteadOf = %s\n", w.Remote, "https://desksync-bot:"+token+"@gitlab.example.com/acme/docs.git")
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.git("", "--git-dir", strings.TrimPrefix(w.Remote, "file://"), "config", "receive.advertisePushOptions", "true")
}

// evalGitLab evaluates a rules: if: expression: $VAR, "string" or 'string', null,
// == != =~ !~ against /regexp/, && || and parentheses. An undefined variable is null;
// a bare variable holds when it is defined and not empty.
func evalGitLab(src string, vars map[string]string) (bool, error) {
	g := &glParser{src: src, vars: vars}
	v, err := g.or()
	if err != nil {
		return false, fmt.Errorf("%q: %w", src, err)
	}
	if g.skip(); g.pos != len(g.src) {
		return false, fmt.Errorf("%q: unexpected %q", src, g.src[g.pos:])
	}
	return v, nil
}

type glParser struct {
	src  string
	pos  int
	vars map[string]string
}

func (g *glParser) skip() {
	for g.pos < len(g.src) && g.src[g.pos] == ' ' {
		g.pos++
	}
}

func (g *glParser) eat(s string) bool {
	g.skip()
	if strings.HasPrefix(g.src[g.pos:], s) {
		g.pos += len(s)
		return true
	}
	return false
}

func (g *glParser) or() (bool, error) {
	l, err := g.and()
	for err == nil && g.eat("||") {
		var r bool
		r, err = g.and()
		l = l || r
	}
	return l, err
}

func (g *glParser) and() (bool, error) {
	l, err := g.cmp()
	for err == nil && g.eat("&&") {
		var r bool
		r, err = g.cmp()
		l = l && r
	}
	return l, err
}

// value is an operand: a string, or nil for null and undefined variables.
func (g *glParser) value() (*string, error) {
	g.skip()
	s := g.src[g.pos:]
	switch {
	case strings.HasPrefix(s, "$"):
		m := regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).FindStringSubmatch(s)
		if m == nil {
			return nil, fmt.Errorf("bad variable at %q", s)
		}
		g.pos += len(m[0])
		if v, ok := g.vars[m[1]]; ok {
			return &v, nil
		}
		return nil, nil
	case strings.HasPrefix(s, `"`), strings.HasPrefix(s, `'`):
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 {
			return nil, fmt.Errorf("unterminated string at %q", s)
		}
		v := s[1 : end+1]
		g.pos += end + 2
		return &v, nil
	case strings.HasPrefix(s, "null"):
		g.pos += 4
		return nil, nil
	}
	return nil, fmt.Errorf("want a variable, a string or null at %q", s)
}

func (g *glParser) cmp() (bool, error) {
	if g.eat("(") {
		v, err := g.or()
		if err == nil && !g.eat(")") {
			err = fmt.Errorf("missing )")
		}
		return v, err
	}
	l, err := g.value()
	if err != nil {
		return false, err
	}
	switch {
	case g.eat("=="), g.eat("!="):
		neg := g.src[g.pos-2:g.pos] == "!="
		r, err := g.value()
		if err != nil {
			return false, err
		}
		eq := l == nil && r == nil || l != nil && r != nil && *l == *r
		return eq != neg, nil
	case g.eat("=~"), g.eat("!~"):
		neg := g.src[g.pos-2:g.pos] == "!~"
		g.skip()
		s := g.src[g.pos:]
		end := strings.IndexByte(s[1:], '/')
		if !strings.HasPrefix(s, "/") || end < 0 {
			return false, fmt.Errorf("want /regexp/ at %q", s)
		}
		re, err := regexp.Compile(s[1 : end+1])
		if err != nil {
			return false, err
		}
		g.pos += end + 2
		return (l != nil && re.MatchString(*l)) != neg, nil
	}
	return l != nil && *l != "", nil
}
