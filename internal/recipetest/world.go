package recipetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/desksync/desksync/desk/desktest"
)

// APIKey is the emulator's key, handed to the recipes as the DESK_API_KEY secret.
const APIKey = "recipe-key-0123456789"

// World is what a recipe runs against: a bare git repository as the remote (the
// forge), a Desk emulator over real HTTP, the secrets and variables a project would
// configure, and stand-ins on PATH for the tools a runner image has and the tests
// cannot (go install, gh, curl to the forge's API, apt-get).
type World struct {
	t       testing.TB
	Dir     string
	Remote  string // the bare repository, as a file:// URL
	Desk    *desktest.Server
	DeskURL string
	// Secrets and Vars are GitHub's secrets and vars contexts; GitLab's CI/CD
	// variables are both together.
	Secrets, Vars map[string]string
	// RunnerEnv is added to every job's environment: what an action the harness
	// stands in for would export (the AWS credentials of configure-aws-credentials).
	RunnerEnv map[string]string
	// BeforeJob, when set, runs before each job starts (after its if: passed): where
	// a test makes main move while a person is approving.
	BeforeJob func(job string)
	// Releases is the local stand-in for GitHub's release downloads, where the
	// recipes' install steps fetch desksync. TamperReleases makes its archives differ
	// from their SHA256SUMS, as a compromised download would.
	Releases       *httptest.Server
	TamperReleases atomic.Bool

	bin      string
	forge    string // the stand-in forge's data: comments, notes, pull requests
	dev      string // a clone people push from
	runs     atomic.Int64
	artifact map[string]string // "runID/name" -> folder
}

// NewWorld makes the remote with main holding files (name -> content), the
// emulator, and the stand-in tools.
func NewWorld(t testing.TB, files map[string]string) *World {
	t.Helper()
	for _, tool := range []string{"git", "bash", "jq", "curl", "tar", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("recipetest needs %s on PATH, as the CI runner images have it (.ci/run installs gojq as jq when it is missing)", tool)
		}
	}
	if err := findHarness(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := &World{t: t, Dir: dir, Secrets: map[string]string{}, Vars: map[string]string{},
		bin: filepath.Join(dir, "bin"), forge: filepath.Join(dir, "forge"), dev: filepath.Join(dir, "dev"),
		artifact: map[string]string{}}
	srv := desktest.New(desktest.Options{APIKey: APIKey})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	w.Desk, w.DeskURL = srv, ts.URL
	w.Releases = releaseServer(t, w.TamperReleases.Load)
	w.Secrets["DESK_URL"], w.Secrets["DESK_API_KEY"] = ts.URL, APIKey

	bare := filepath.Join(dir, "remote.git")
	w.git("", "init", "-q", "--bare", "-b", "main", bare)
	w.Remote = "file://" + bare
	w.git("", "clone", "-q", w.Remote, w.dev)
	w.git(w.dev, "checkout", "-q", "-b", "main")
	w.Commit("main", "initial commit", files)
	for _, d := range []string{w.bin, w.forge} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, script := range stubs {
		if err := os.WriteFile(filepath.Join(w.bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// git runs git in dir (the test's own use, with a fixed identity) and returns its output.
func (w *World) git(dir string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (content "" deletes) on branch, based on the remote's tip of
// that branch (or of main for a new branch), pushes it, and returns the commit.
func (w *World) Commit(branch, message string, files map[string]string) string {
	w.t.Helper()
	if w.git(w.dev, "ls-remote", "origin", "refs/heads/main") != "" {
		w.git(w.dev, "fetch", "-q", "origin")
		base := "origin/main"
		if w.git(w.dev, "ls-remote", "origin", "refs/heads/"+branch) != "" {
			base = "origin/" + branch
		}
		w.git(w.dev, "checkout", "-q", "-B", branch, base)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(w.dev, filepath.FromSlash(name))
		if files[name] == "" {
			w.git(w.dev, "rm", "-q", "--", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "-q", "--allow-empty", "-m", message)
	w.git(w.dev, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return w.git(w.dev, "rev-parse", "HEAD")
}

// Tip is the remote's commit for ref (a branch name or a full ref).
func (w *World) Tip(ref string) string {
	w.t.Helper()
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	out := w.git("", "--git-dir", strings.TrimPrefix(w.Remote, "file://"), "rev-parse", "--verify", "-q", ref)
	return out
}

// Show is a file at rev on the remote ("" when it does not exist there).
func (w *World) Show(rev, path string) string {
	w.t.Helper()
	cmd := exec.Command("git", "--git-dir", strings.TrimPrefix(w.Remote, "file://"), "show", rev+":"+path)
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// KeptState is the state where the recipes keep it for this world's
// DESKSYNC_STATE: the tree of refs/desksync/state by default, the file on main when
// the variable names a path ("" when there is none).
func (w *World) KeptState() string {
	w.t.Helper()
	loc := w.Vars["DESKSYNC_STATE"]
	if loc == "" || strings.HasPrefix(loc, "git:") {
		ref := strings.TrimPrefix(loc, "git:")
		if ref == "" {
			ref = "refs/desksync/state"
		}
		return w.Show(ref, "desksync.state.json")
	}
	return w.Show("refs/heads/main", loc)
}

// RejectBotPushes installs a pre-receive hook on the remote that refuses every
// push to main of a commit whose message starts with "desksync:", as branch
// protection refuses the bot; people's pushes still land.
func (w *World) RejectBotPushes() {
	hook := `#!/bin/sh
while read old new ref; do
  [ "$ref" = refs/heads/main ] || continue
  if git log --format=%s "$old..$new" 2>/dev/null | grep -q '^desksync:'; then
    echo "GH006: Protected branch update failed for refs/heads/main." >&2
    exit 1
  fi
done
`
	p := filepath.Join(strings.TrimPrefix(w.Remote, "file://"), "hooks", "pre-receive")
	if err := os.WriteFile(p, []byte(hook), 0o755); err != nil {
		w.t.Fatal(err)
	}
}

// Artifact is the folder of an artifact a run uploaded ("" when it did not).
func (w *World) Artifact(runID int64, name string) string {
	return w.artifact[fmt.Sprintf("%d/%s", runID, name)]
}

// LatestArtifact is the folder of the artifacts the latest run of job kept (GitLab
// keeps them per job), "" when none did.
func (w *World) LatestArtifact(job string) string {
	best, dir := int64(-1), ""
	for key, d := range w.artifact {
		id, name, _ := strings.Cut(key, "/")
		var n int64
		if _, err := fmt.Sscan(id, &n); err == nil && name == job && n > best {
			best, dir = n, d
		}
	}
	return dir
}

// Comments are the bodies of the pull-request comments (or merge-request notes) the
// stand-in forge holds, in order of creation.
func (w *World) Comments() []string {
	w.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(w.forge, "comments", "*"))
	sort.Slice(matches, func(i, j int) bool {
		return len(matches[i]) < len(matches[j]) || len(matches[i]) == len(matches[j]) && matches[i] < matches[j]
	})
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// SetPullHead tells the stand-in forge which commit pull request n is at.
func (w *World) SetPullHead(n int, sha string) {
	w.t.Helper()
	d := filepath.Join(w.forge, "pulls")
	if err := os.MkdirAll(d, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, fmt.Sprint(n)), []byte(sha+"\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// stateRecord is the part of a state file the checks read.
type stateRecord struct {
	Attachments map[string]struct {
		ID     int64  `json:"id"`
		State  string `json:"state"`
		Blake3 string `json:"blake3"`
	} `json:"attachments"`
	Pending map[string]json.RawMessage `json:"pending"`
	Deposed []json.RawMessage          `json:"deposed"`
}

// CheckConverged asserts the outcome every recipe run must leave: exactly one
// active Desk file per address in want (address -> content; the manifests of these
// tests upload each address under its base name), no address uploaded more often
// than uploads allows (1 when absent), and every active Desk file recorded in
// state, the state file's content where the recipe keeps it.
func (w *World) CheckConverged(state string, want map[string]string, uploads map[string]int) {
	w.t.Helper()
	var st stateRecord
	if err := json.Unmarshal([]byte(state), &st); err != nil {
		w.t.Fatalf("the state where the recipe keeps it does not parse: %v\n%s", err, state)
	}
	recorded := map[int64]string{}
	for addr, a := range st.Attachments {
		recorded[a.ID] = addr
	}
	byName := map[string][]desktest.FileRecord{}
	for _, f := range w.Desk.Files() {
		byName[f.Filename] = append(byName[f.Filename], f)
	}
	for addr, content := range want {
		name := filepath.Base(addr)
		var active []desktest.FileRecord
		for _, f := range byName[name] {
			if f.State == "active" {
				active = append(active, f)
			}
		}
		if len(active) != 1 {
			w.t.Errorf("%s: %d active Desk files, want exactly 1", addr, len(active))
			continue
		}
		got, err := w.Desk.Content(active[0].ID)
		if err != nil || !bytes.Equal(got, []byte(content)) {
			w.t.Errorf("%s: Desk file %d holds %q, want %q (%v)", addr, active[0].ID, got, content, err)
		}
		if recorded[active[0].ID] != addr {
			w.t.Errorf("%s: active Desk file %d is not recorded in the state (the state records it as %q)", addr, active[0].ID, recorded[active[0].ID])
		}
		limit := 1
		if n, ok := uploads[addr]; ok {
			limit = n
		}
		if n := len(byName[name]); n > limit {
			w.t.Errorf("%s: uploaded %d times, want at most %d", addr, n, limit)
		}
	}
	for _, f := range w.Desk.Files() {
		if f.State != "active" {
			continue
		}
		if _, ok := recorded[f.ID]; !ok {
			w.t.Errorf("active Desk file %d (%s) is recorded nowhere: an orphan", f.ID, f.Filename)
		}
	}
	if len(st.Pending) > 0 || len(st.Deposed) > 0 {
		w.t.Errorf("the state still holds pending %d, deposed %d", len(st.Pending), len(st.Deposed))
	}
}

// stubs are the stand-ins on PATH. Each does only what the recipes ask of it and
// fails loudly on anything else, so a recipe that starts relying on more fails here.
var stubs = map[string]string{
	// The recipes install a release; building desksync from source is what they
	// must not do, and nothing here could build it.
	"go": `#!/bin/sh
echo "recipetest: go $*: the recipes install a desksync release (the action, or the GitLab install lines), never go" >&2
exit 1
`,
	"apt-get": `#!/bin/sh
exit 0
`,
	// gh api, as the GitHub comment recipes call it, against $FORGE_DIR.
	"gh": `#!/bin/bash
set -euo pipefail
[ "$1" = api ] || { echo "recipetest: gh $*: only gh api is stood in for" >&2; exit 1; }
shift
method=GET body= path= jq=
while [ $# -gt 0 ]; do
  case "$1" in
    -X) method=$2; shift 2 ;;
    -F) body=${2#body=@}; shift 2 ;;
    --jq) jq=$2; shift 2 ;;
    --paginate) shift ;;
    *) path=$1; shift ;;
  esac
done
mkdir -p "$FORGE_DIR/comments"
case "$method $path" in
  "GET repos/"*/pulls/*)
    cat "$FORGE_DIR/pulls/${path##*/}" ;;
  "GET repos/"*/issues/*/comments)
    marker=$(printf '%s' "$jq" | sed -n 's/.*contains(\\\?"\([^"\\]*\)\\\?").*/\1/p')
    for f in "$FORGE_DIR"/comments/*; do
      [ -e "$f" ] || continue
      if grep -qF -- "$marker" "$f"; then basename "$f"; fi
    done ;;
  "POST repos/"*/issues/*/comments)
    n=$(ls "$FORGE_DIR/comments" | wc -l)
    cp "$body" "$FORGE_DIR/comments/$((n + 1))" ;;
  "PATCH repos/"*/issues/comments/*)
    cp "$body" "$FORGE_DIR/comments/${path##*/}" ;;
  *) echo "recipetest: gh api $method $path: not stood in for" >&2; exit 1 ;;
esac
`,
	// curl to GitLab's notes API, as the GitLab plan job calls it, against $FORGE_DIR;
	// downloads of desksync releases go, by the real curl, to the world's release
	// server.
	"curl": `#!/bin/bash
set -euo pipefail
case " $* " in
  *" https://github.com/desksync/desksync/releases"*)
    args=()
    for a in "$@"; do
      case "$a" in
        https://github.com/desksync/desksync/releases*) a=$RECIPETEST_RELEASES${a#https://github.com/desksync/desksync/releases} ;;
      esac
      args+=("$a")
    done
    exec "$RECIPETEST_CURL" "${args[@]}" ;;
esac
method=GET url= body=
while [ $# -gt 0 ]; do
  case "$1" in
    -X) method=$2; shift 2 ;;
    --header|-H) shift 2 ;;
    --data-urlencode) body=${2#body=}; shift 2 ;;
    -f|-s|-S|-fsS|-sS|-fS) shift ;;
    *) url=$1; shift ;;
  esac
done
mkdir -p "$FORGE_DIR/comments"
url=${url%%\?*}
case "$method $url" in
  "GET "*/notes)
    printf '['
    sep=
    for f in "$FORGE_DIR"/comments/*; do
      [ -e "$f" ] || continue
      printf '%s{"id":%s,"body":%s}' "$sep" "$(basename "$f")" "$(jq -Rs . < "$f")"
      sep=,
    done
    printf ']' ;;
  "POST "*/notes)
    n=$(ls "$FORGE_DIR/comments" | wc -l)
    printf '%s' "$body" > "$FORGE_DIR/comments/$((n + 1))" ;;
  "PUT "*/notes/*)
    printf '%s' "$body" > "$FORGE_DIR/comments/${url##*/}" ;;
  *) echo "recipetest: curl $method $url: not stood in for" >&2; exit 1 ;;
esac
`,
}
