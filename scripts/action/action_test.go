// Package action_test runs the action's scripts (action.yml calls them) against a
// local file server standing in for GitHub's release downloads.
package action_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/releasetest"
)

// fakeDesksync stands in for the released binary: it answers "version --format json"
// and otherwise prints its arguments one per line and exits with $FAKE_EXIT.
const fakeDesksync = `#!/bin/sh
if [ "$1" = version ]; then echo '{"version":"v1.3.0","commit":"0123"}'; exit 0; fi
for a in "$@"; do printf '[%s]\n' "$a"; done
exit "${FAKE_EXIT:-0}"
`

func needTools(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the scripts run under Git Bash on Windows runners; these tests use /bin/sh fakes")
	}
	for _, tool := range []string{"bash", "curl", "tar", "unzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// releaseServer serves one release, v1.3.0, the way GitHub lays it out; tamper names
// an archive whose bytes differ from what SHA256SUMS says.
func releaseServer(t *testing.T, tamper string) *httptest.Server {
	return releasetest.Serve(t, releasetest.Release{
		Binary:    fakeDesksync,
		Platforms: []string{"linux_amd64", "darwin_arm64", "windows_amd64"},
		Tags:      []string{"v1.3.0"},
		Latest:    "v1.3.0",
		Tamper:    func(file string) bool { return file == tamper },
	})
}

type result struct {
	code    int
	stdout  string
	stderr  string
	outputs map[string]string
}

// script runs scripts/action/NAME with env (and a PATH holding pathDir first).
func script(t *testing.T, name string, env map[string]string, pathDir string) result {
	t.Helper()
	ghOut := filepath.Join(t.TempDir(), "github_output")
	cmd := exec.Command("bash", name)
	cmd.Env = []string{"HOME=" + t.TempDir(), "GITHUB_OUTPUT=" + ghOut, "PATH=" + pathDir + string(os.PathListSeparator) + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), outputs: map[string]string{}}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(ghOut)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			r.outputs[k] = v
		}
	}
	return r
}

func TestInstallRelease(t *testing.T) {
	t.Parallel()
	needTools(t)
	for _, tt := range []struct{ os, arch, exe string }{
		{"Linux", "X64", "desksync"},
		{"macOS", "ARM64", "desksync"},
		{"Windows", "X64", "desksync.exe"},
	} {
		t.Run(tt.os, func(t *testing.T) {
			t.Parallel()
			srv := releaseServer(t, "")
			dir := filepath.Join(t.TempDir(), "bin")
			env := map[string]string{"DESKSYNC_VERSION": "latest", "DESKSYNC_RELEASES_URL": srv.URL + "/releases",
				"DESKSYNC_INSTALL_DIR": dir, "RUNNER_OS": tt.os, "RUNNER_ARCH": tt.arch}
			r := script(t, "install.sh", env, "")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r.outputs["version"] != "v1.3.0" || r.outputs["method"] != "release" {
				t.Errorf("outputs %v, want version v1.3.0 by release", r.outputs)
			}
			if fi, err := os.Stat(filepath.Join(dir, tt.exe)); err != nil || fi.Mode()&0o111 == 0 {
				t.Fatalf("no executable %s installed: %v", tt.exe, err)
			}
			if tt.os == "Windows" {
				return // the .exe is a shell script here; the cache check runs it
			}
			// A second run (the cache restored the folder) downloads nothing.
			srv.Close()
			env["DESKSYNC_VERSION"] = "v1.3.0"
			if r := script(t, "install.sh", env, ""); r.code != 0 || r.outputs["method"] != "cached" {
				t.Errorf("second install: exit %d, outputs %v\n%s", r.code, r.outputs, r.stderr)
			}
		})
	}
}

// TestInstallRefusesTampered: an archive whose SHA-256 is not the one in SHA256SUMS is
// never installed.
func TestInstallRefusesTampered(t *testing.T) {
	t.Parallel()
	needTools(t)
	srv := releaseServer(t, "desksync_1.3.0_linux_amd64.tar.gz")
	dir := filepath.Join(t.TempDir(), "bin")
	r := script(t, "install.sh", map[string]string{"DESKSYNC_VERSION": "v1.3.0", "DESKSYNC_RELEASES_URL": srv.URL + "/releases",
		"DESKSYNC_INSTALL_DIR": dir, "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64"}, "")
	if r.code == 0 {
		t.Fatalf("a tampered archive was accepted:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "SHA256SUMS says") {
		t.Errorf("the error does not name the checksum mismatch:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "desksync")); err == nil {
		t.Error("the tampered binary was installed")
	}
}

func TestInstallRefuses(t *testing.T) {
	t.Parallel()
	needTools(t)
	srv := releaseServer(t, "")
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a release that does not exist", map[string]string{"DESKSYNC_VERSION": "v9.9.9", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64"}, "cannot download"},
		{"a runner OS with no release", map[string]string{"DESKSYNC_VERSION": "v1.3.0", "RUNNER_OS": "Plan9", "RUNNER_ARCH": "X64"}, "set install: go"},
		{"an unknown install method", map[string]string{"DESKSYNC_VERSION": "v1.3.0", "DESKSYNC_INSTALL": "curl|sh"}, "install must be release or go"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["DESKSYNC_RELEASES_URL"] = srv.URL + "/releases"
			tt.env["DESKSYNC_INSTALL_DIR"] = filepath.Join(t.TempDir(), "bin")
			r := script(t, "install.sh", tt.env, "")
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	needTools(t)
	srv := releaseServer(t, "")
	r := script(t, "resolve.sh", map[string]string{"DESKSYNC_VERSION": "latest", "DESKSYNC_RELEASES_URL": srv.URL + "/releases"}, "")
	if r.code != 0 || r.outputs["version"] != "v1.3.0" {
		t.Errorf("latest: exit %d, outputs %v, %s", r.code, r.outputs, r.stderr)
	}
	r = script(t, "resolve.sh", map[string]string{"DESKSYNC_VERSION": "main; curl x | sh"}, "")
	if r.code == 0 || !strings.Contains(r.stderr, "not a desksync release tag") {
		t.Errorf("a branch: exit %d, %s", r.code, r.stderr)
	}
}

// TestRun: arguments one per line reach desksync as they are (spaces, quotes and shell
// syntax included, nothing evaluated), and plan --detailed-exitcode's exit 2 is the
// output changes=true, not a failed step.
func TestRun(t *testing.T) {
	t.Parallel()
	needTools(t)
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "desksync"), []byte(fakeDesksync), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	pwned := filepath.Join(work, "pwned")
	args := "--target\ndocs/user guides\r\n\n--exclude\n$(touch " + pwned + ")\n--detailed-exitcode"
	for _, tt := range []struct {
		name        string
		args, exit  string
		wantCode    int
		wantChanges string
		wantExit    string
	}{
		{"changes", args, "2", 0, "true", "2"},
		{"no changes", args, "0", 0, "false", "0"},
		{"an error", args, "1", 1, "false", "1"},
		{"exit 2 without --detailed-exitcode", "--target\na b", "2", 2, "false", "2"},
		{"no args", "", "0", 0, "false", "0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := script(t, "run.sh", map[string]string{"DESKSYNC_COMMAND": "plan", "DESKSYNC_ARGS": tt.args, "FAKE_EXIT": tt.exit}, bin)
			if r.code != tt.wantCode || r.outputs["changes"] != tt.wantChanges || r.outputs["exitcode"] != tt.wantExit {
				t.Errorf("exit %d, outputs %v; want exit %d, changes=%s, exitcode=%s\n%s", r.code, r.outputs, tt.wantCode, tt.wantChanges, tt.wantExit, r.stderr)
			}
		})
	}
	r := script(t, "run.sh", map[string]string{"DESKSYNC_COMMAND": "state list", "DESKSYNC_ARGS": args, "DESKSYNC_OUTPUT_FILE": filepath.Join(work, "out.txt")}, bin)
	want := "[state]\n[list]\n[--target]\n[docs/user guides]\n[--exclude]\n[$(touch " + pwned + ")]\n[--detailed-exitcode]\n"
	if r.stdout != want {
		t.Errorf("desksync got\n%swant\n%s", r.stdout, want)
	}
	if got, _ := os.ReadFile(filepath.Join(work, "out.txt")); string(got) != want {
		t.Errorf("output-file holds %q", got)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("an argument was evaluated by the shell")
	}
}
