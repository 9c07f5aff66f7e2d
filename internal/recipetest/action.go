package recipetest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// actionFile is the composite action the recipes use as desksync/desksync@TAG: the
// one of the tree under test, whatever tag the recipe names, so a change to the
// action or its scripts is tested by every recipe run.
var actionFile = filepath.Join("..", "..", "action.yml")

type ghAction struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string            `yaml:"using"`
		Steps []ghCompositeStep `yaml:"steps"`
	} `yaml:"runs"`
}

type ghCompositeStep struct {
	ghStep           `yaml:",inline"`
	Shell            string `yaml:"shell"`
	WorkingDirectory string `yaml:"working-directory"`
}

// composite runs the action's steps as GitHub runs a composite action: its inputs
// from with: and the defaults, its own steps context, its run: steps in bash with
// $GITHUB_ACTION_PATH at the action's folder, and its outputs as the step's. The
// runner is Linux X64 with a tool cache of the job's own.
func (w *World) composite(run *Run, ev GitHubEvent, outer map[string]any, with, env map[string]string, ws, home, root, tag string, step *Step, job *Job) error {
	w.t.Helper()
	data, err := os.ReadFile(actionFile)
	if err != nil {
		w.t.Fatal(err)
	}
	var a ghAction
	if err := yaml.Unmarshal(data, &a); err != nil {
		w.t.Fatalf("%s: %v", actionFile, err)
	}
	if a.Runs.Using != "composite" {
		return fmt.Errorf("%s: runs.using is %q; recipetest runs composite actions only", actionFile, a.Runs.Using)
	}
	actionPath, err := filepath.Abs(filepath.Dir(actionFile))
	if err != nil {
		w.t.Fatal(err)
	}
	inputs := map[string]any{}
	for k, in := range a.Inputs {
		inputs[k] = in.Default
	}
	for _, k := range slices.Sorted(maps.Keys(with)) {
		if _, ok := a.Inputs[k]; !ok {
			return fmt.Errorf("the action desksync/desksync has no input %q (%s)", k, actionFile)
		}
		inputs[k] = with[k]
	}
	for k, in := range a.Inputs {
		if in.Required && inputs[k] == "" {
			return fmt.Errorf("the action desksync/desksync needs the input %q", k)
		}
	}
	steps := map[string]*Step{}
	ctx := func() map[string]any {
		c := maps.Clone(outer)
		c["inputs"] = inputs
		c["runner"] = map[string]any{"os": "Linux", "arch": "X64", "temp": root, "tool_cache": filepath.Join(root, "toolcache")}
		stepsCtx := map[string]any{}
		for id, s := range steps {
			outs := map[string]any{}
			for k, v := range s.Outputs {
				outs[k] = v
			}
			stepsCtx[id] = map[string]any{"outcome": s.Outcome, "conclusion": s.Outcome, "outputs": outs}
		}
		c["steps"] = stepsCtx
		return c
	}
	failed := false
	status := func(fn string) bool {
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
	for i, s := range a.Runs.Steps {
		id := s.ID
		if id == "" {
			id = fmt.Sprintf("__step%d", i)
		}
		st := &Step{Outputs: map[string]string{}}
		steps[id] = st
		label := s.Name
		if label == "" {
			label = s.Uses + s.Run
		}
		ok, err := condition(s.If, ctx(), status)
		if err != nil {
			w.t.Fatalf("%s: step %q: if: %v", actionFile, label, err)
		}
		if !ok {
			st.Outcome = "skipped"
			fmt.Fprintf(&job.Log, "  --- action step %q: skipped\n", label)
			continue
		}
		eval := func(what, v string) string {
			x, err := interpolate(v, ctx(), status)
			if err != nil {
				w.t.Fatalf("%s: step %q: %s: %v", actionFile, label, what, err)
			}
			return x
		}
		fmt.Fprintf(&job.Log, "  --- action step %q\n", label)
		var stepErr error
		if s.Uses != "" {
			stepWith := map[string]string{}
			for k, v := range s.With {
				stepWith[k] = eval("with "+k, v)
			}
			stepErr = w.uses(run, ev, s.Uses, stepWith, ws, &job.Log)
		} else {
			if s.Shell != "bash" {
				return fmt.Errorf("%s: step %q: shell %q; the action's steps must say shell: bash (a composite step has no default)", actionFile, label, s.Shell)
			}
			stepEnv := maps.Clone(env)
			for k, v := range s.Env {
				stepEnv[k] = eval("env "+k, v)
			}
			stepEnv["GITHUB_ACTION_PATH"] = actionPath
			dir := ws
			if wd := eval("working-directory", s.WorkingDirectory); wd != "" {
				dir = filepath.Join(ws, wd)
			}
			stepErr = w.ghShell(run, ev, eval("run", s.Run), stepEnv, ws, dir, home, root, fmt.Sprintf("%s-%d", tag, i), st, job)
		}
		if stepErr != nil {
			fmt.Fprintf(&job.Log, "  --- action step %q failed: %v\n", label, stepErr)
			st.Outcome = "failure"
			failed = true
		} else {
			st.Outcome = "success"
		}
	}
	for k, o := range a.Outputs {
		x, err := interpolate(o.Value, ctx(), status)
		if err != nil {
			w.t.Fatalf("%s: output %s: %v", actionFile, k, err)
		}
		step.Outputs[k] = x
	}
	if failed {
		return fmt.Errorf("the action desksync/desksync failed")
	}
	return nil
}
