// Package recipetest runs the CI recipes in examples/ (GitHub Actions workflows and
// GitLab CI pipelines) as their runners would: it reads the workflow files, decides
// each job's and step's if: or rules: with GitHub's and GitLab's own expression
// rules (as far as the recipes use them), and runs every run: and script: step in
// bash, in a fresh clone of a local bare repository, against the Desk emulator over
// real HTTP. The tools a runner image has and a test cannot (go install, gh, curl to
// the forge's API) are small stand-ins on PATH that fail on anything the recipes do
// not do. Start at NewWorld, World.RunGitHub and World.RunGitLab; the scenarios are
// the package's tests, and each ends with World.CheckConverged.
package recipetest
