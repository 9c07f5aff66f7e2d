package command

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

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
