package recipetest

import "testing"

// TestGitHubExpressions: the rules of GitHub's expressions the recipes rely on.
func TestGitHubExpressions(t *testing.T) {
	t.Parallel()
	ctx := map[string]any{
		"github": map[string]any{"ref": "refs/heads/main", "event_name": "workflow_dispatch",
			"event": map[string]any{"pull_request": map[string]any{"head": map[string]any{"repo": map[string]any{"full_name": "Acme/Docs"}}}}},
		"vars":   map[string]any{"DESKSYNC_STATE": ""},
		"inputs": map[string]any{"repair": true},
		"env":    map[string]any{"DESKSYNC_STATE": "git:refs/desksync/state"},
		"steps":  map[string]any{"plan": map[string]any{"outputs": map[string]any{"changes": "true"}, "outcome": "failure"}},
	}
	always := func(fn string) bool { return fn == "always" || fn == "success" }
	for _, tt := range []struct {
		expr string
		want string
	}{
		{"vars.DESKSYNC_STATE || 'git:refs/desksync/state'", "git:refs/desksync/state"},
		{"github.ref == 'refs/heads/main'", "true"},
		{"github.ref == 'REFS/HEADS/MAIN'", "true"}, // == on strings ignores case
		{"github.event.pull_request.head.repo.full_name == 'acme/docs'", "true"},
		{"github.event.nothing.here", ""}, // a missing property is null
		{"!inputs.repair", "false"},
		{"github.event_name == 'schedule' || !inputs.repair", "false"},
		{"startsWith(env.DESKSYNC_STATE, 'git:') && 'yes'", "yes"},
		{"steps.plan.outputs.changes == 'true' && steps.plan.outcome != 'skipped'", "true"},
		{"format('{0}-{1}', 'a', 1)", "a-1"},
		{"(1 < 2) && !(2 < 1)", "true"},
	} {
		v, err := evalGitHub(tt.expr, ctx, always)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if str(v) != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, str(v), tt.want)
		}
	}
	// An if: without a status function gets success() in front of it.
	failed := func(fn string) bool { return fn == "always" || fn == "failure" }
	if ok, err := condition("github.ref == 'refs/heads/main'", ctx, failed); err != nil || ok {
		t.Errorf("an if: without always() ran after a failure (%v)", err)
	}
	if ok, err := condition("${{ always() && github.ref == 'refs/heads/main' }}", ctx, failed); err != nil || !ok {
		t.Errorf("always() did not run after a failure (%v)", err)
	}
	if _, err := evalGitHub("hashFiles('x')", ctx, always); err == nil {
		t.Error("a function the harness does not implement was accepted")
	}
}

// TestGitLabRules: the rules: if: forms the recipes rely on.
func TestGitLabRules(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "EMPTY": ""}
	for _, tt := range []struct {
		expr string
		want bool
	}{
		{`$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && ($CI_PIPELINE_SOURCE == "push" || $CI_PIPELINE_SOURCE == "web")`, true},
		{`$CI_PIPELINE_SOURCE == "schedule"`, false},
		{`$DESKSYNC_REPAIR != "true"`, true}, // undefined is null, not "true"
		{`$DESKSYNC_REPAIR == null`, true},
		{`$EMPTY`, false},
		{`$CI_COMMIT_BRANCH`, true},
		{`$CI_COMMIT_BRANCH =~ /^ma/`, true},
		{`$CI_COMMIT_BRANCH !~ /^ma/`, false},
	} {
		got, err := evalGitLab(tt.expr, vars)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v (%v), want %v", tt.expr, got, err, tt.want)
		}
	}
	when, ok, err := gitlabRules(map[string]any{"rules": []any{
		map[string]any{"if": `$CI_PIPELINE_SOURCE == "schedule"`},
		map[string]any{"when": "manual"},
	}}, vars)
	if err != nil || !ok || when != "manual" {
		t.Errorf("the fallback rule: %q %v %v", when, ok, err)
	}
}
