package command

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// desksyncLine finds a desksync command in a line of shell: at the start, or after
// "; ", "&&" or "||", up to a redirection, pipe or the end of the command.
var desksyncLine = regexp.MustCompile(`(?:^|;|&&|\|\|)\s*(desksync (?:plan|apply|validate|refresh|import|state|init|force-unlock)\b[^;&|>\n]*)`)

// recipeCommands returns the desksync command lines a recipe file runs: from shell
// scripts (run:, script:, before_script:) and from uses of the desksync action
// (command plus args).
func recipeCommands(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if uses, _ := v["uses"].(string); strings.HasPrefix(uses, "desksync/desksync@") {
				with, _ := v["with"].(map[string]any)
				cmd, _ := with["command"].(string)
				args, _ := with["args"].(string)
				out = append(out, strings.Join(strings.Fields("desksync "+cmd+" "+args), " "))
			}
			for k, c := range v {
				switch k {
				case "run", "script", "before_script", "after_script":
					for _, s := range scripts(c) {
						for _, line := range strings.Split(s, "\n") {
							for _, m := range desksyncLine.FindAllStringSubmatch(line, -1) {
								out = append(out, strings.Join(strings.Fields(m[1]), " "))
							}
						}
					}
				default:
					walk(c)
				}
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	slices.Sort(out)
	return slices.Compact(out)
}

// scripts is a run: string or a GitLab script list.
func scripts(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func recipeFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../../examples/github-actions/*.yml", "../../examples/gitlab-ci/*.yml", "../../examples/gitlab-ci/.gitlab-ci.yml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 6 {
		t.Fatalf("found only the recipes %v", files)
	}
	return files
}

// TestRecipeCommandsTested: every desksync command line a recipe runs is run by
// testdata/script/ci_recipes.txtar against the emulator, so a recipe cannot use a flag
// that does not exist or a command that fails.
func TestRecipeCommandsTested(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile("testdata/script/ci_recipes.txtar")
	if err != nil {
		t.Fatal(err)
	}
	// In the script a command stands after "exec " or inside "sh -c '…'".
	inScript := regexp.MustCompile(`desksync (?:plan|apply|validate|refresh|import|state|init|force-unlock)\b[^;&|>\n']*`)
	var tested []string
	for _, line := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(line, "-- ") {
			break // the archive's files
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range inScript.FindAllString(line, -1) {
			tested = append(tested, strings.Join(strings.Fields(m), " "))
		}
	}
	total := 0
	for _, f := range recipeFiles(t) {
		for _, cmd := range recipeCommands(t, f) {
			total++
			if !slices.Contains(tested, cmd) {
				t.Errorf("%s runs %q, which ci_recipes.txtar does not (it runs %q)", f, cmd, tested)
			}
		}
	}
	if total < 5 {
		t.Errorf("only %d desksync command lines found in the recipes", total)
	}
}

// TestGitLabRecipe parses the GitLab files and checks what the recipe relies on:
// the plan on merge requests, the deploy serialized as a whole, the commit of the
// state even after a failed or cancelled apply, and the drift check on a schedule.
func TestGitLabRecipe(t *testing.T) {
	t.Parallel()
	type job struct {
		Extends       any              `yaml:"extends"`
		Stage         string           `yaml:"stage"`
		Rules         []map[string]any `yaml:"rules"`
		Script        []string         `yaml:"script"`
		When          string           `yaml:"when"`
		ResourceGroup string           `yaml:"resource_group"`
		Needs         []map[string]any `yaml:"needs"`
		Trigger       struct {
			Include  string `yaml:"include"`
			Strategy string `yaml:"strategy"`
		} `yaml:"trigger"`
		Artifacts struct {
			When  string   `yaml:"when"`
			Paths []string `yaml:"paths"`
		} `yaml:"artifacts"`
	}
	load := func(path string) map[string]job {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]yaml.Node
		if err := yaml.Unmarshal(data, &raw); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		jobs := map[string]job{}
		for name, n := range raw {
			if n.Kind != yaml.MappingNode || name == "variables" {
				continue
			}
			var j job
			if err := n.Decode(&j); err != nil {
				t.Fatalf("%s: job %s: %v", path, name, err)
			}
			jobs[name] = j
		}
		return jobs
	}
	main := load("../../examples/gitlab-ci/.gitlab-ci.yml")
	deploy := load("../../examples/gitlab-ci/desksync-deploy.yml")
	rule := func(j job) string {
		if len(j.Rules) == 0 {
			return ""
		}
		s, _ := j.Rules[0]["if"].(string)
		return s
	}

	plan := main["desksync-plan"]
	if !strings.Contains(rule(plan), `merge_request_event`) || !slices.ContainsFunc(plan.Script, func(s string) bool {
		return strings.Contains(s, "desksync plan --format markdown")
	}) {
		t.Errorf("desksync-plan does not run plan --format markdown on merge requests: %+v", plan)
	}
	if !slices.ContainsFunc(plan.Script, func(s string) bool { return strings.Contains(s, "PUT") && strings.Contains(s, "desksync-plan") }) {
		t.Error("desksync-plan does not update its note in place")
	}
	d := main["desksync-deploy"]
	if d.ResourceGroup == "" || d.Trigger.Strategy != "depend" || !strings.Contains(rule(d), "CI_DEFAULT_BRANCH") {
		t.Errorf("desksync-deploy is not one serialized child pipeline on the default branch: %+v", d)
	}
	if filepath.Base(d.Trigger.Include) != "desksync-deploy.yml" {
		t.Errorf("desksync-deploy includes %q, not the deploy file of the recipe", d.Trigger.Include)
	}
	drift := main["desksync-drift"]
	if !strings.Contains(rule(drift), `"schedule"`) || !slices.Contains(drift.Script, "desksync plan --refresh --detailed-exitcode") {
		t.Errorf("desksync-drift is not a scheduled plan --refresh --detailed-exitcode: %+v", drift)
	}

	apply := deploy["desksync-apply"]
	if !slices.Contains(apply.Script, "desksync apply --auto-approve") || apply.Artifacts.When != "always" ||
		!slices.Contains(apply.Artifacts.Paths, "desksync.state.json.journal") {
		t.Errorf("desksync-apply does not keep the state and journal after any outcome: %+v", apply)
	}
	commit := deploy["desksync-commit-state"]
	if commit.When != "always" || len(commit.Needs) == 0 || commit.Needs[0]["job"] != "desksync-apply" {
		t.Errorf("desksync-commit-state does not run after apply whatever its outcome: %+v", commit)
	}
	for _, want := range []string{`merge.desksync.driver "desksync state merge %O %A %B"`, "desksync.state.json.journal", "git push"} {
		if !slices.ContainsFunc(commit.Script, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("desksync-commit-state's script lacks %q", want)
		}
	}
}

// TestGitHubApplyCommitsAlways: the GitHub apply recipe commits the state and journal
// even when apply failed or was cancelled, under a concurrency group that never
// cancels a running apply.
func TestGitHubApplyCommitsAlways(t *testing.T) {
	t.Parallel()
	var wf struct {
		Concurrency struct {
			Group            string `yaml:"group"`
			CancelInProgress bool   `yaml:"cancel-in-progress"`
		} `yaml:"concurrency"`
		Jobs map[string]struct {
			Steps []struct {
				Name string `yaml:"name"`
				If   string `yaml:"if"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	data, err := os.ReadFile("../../examples/github-actions/desksync-apply.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	if wf.Concurrency.Group == "" || wf.Concurrency.CancelInProgress {
		t.Errorf("concurrency %+v: want a group that does not cancel a running apply", wf.Concurrency)
	}
	found := false
	for _, s := range wf.Jobs["apply"].Steps {
		if strings.Contains(s.Run, "git commit") {
			found = true
			if s.If != "always()" || !strings.Contains(s.Run, "desksync.state.json.journal") ||
				!strings.Contains(s.Run, `merge.desksync.driver "desksync state merge %O %A %B"`) {
				t.Errorf("step %q: want if: always(), the journal committed and the merge driver configured", s.Name)
			}
		}
	}
	if !found {
		t.Error("the apply job has no step that commits the state")
	}
}

// TestActionInputs: action.yml passes its inputs to the shell only through the
// environment (an input pasted into a script could inject commands), and offers
// the inputs the README documents.
func TestActionInputs(t *testing.T) {
	t.Parallel()
	var action struct {
		Inputs map[string]any `yaml:"inputs"`
		Runs   struct {
			Using string `yaml:"using"`
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	data, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatal(err)
	}
	if action.Runs.Using != "composite" {
		t.Errorf("runs.using is %q, want composite", action.Runs.Using)
	}
	for _, in := range []string{"command", "args", "version"} {
		if _, ok := action.Inputs[in]; !ok {
			t.Errorf("no input %q", in)
		}
	}
	for _, s := range action.Runs.Steps {
		if strings.Contains(s.Run, "${{") {
			t.Errorf("a run script interpolates an expression; pass it through env instead:\n%s", s.Run)
		}
	}
}
