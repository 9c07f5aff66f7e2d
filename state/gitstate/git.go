package gitstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gitTimeout bounds one git command; a fetch or push of a state of state.MaxSize fits.
const gitTimeout = 2 * time.Minute

// gitConfig keeps git from doing, in the middle of an apply, work nobody asked for: an
// automatic gc or maintenance run, a commit graph write, a prompt for a password.
var gitConfig = []string{
	"-c", "gc.auto=0",
	"-c", "maintenance.auto=false",
	"-c", "fetch.writeCommitGraph=false",
	"-c", "core.askPass=",
	"-c", "credential.interactive=false",
}

// git runs one git command in s.dir with stdin and returns its stdout. A failure is a
// *GitError naming op; ctx ends the command.
func (s *Store) git(ctx context.Context, op string, stdin []byte, args ...string) ([]byte, error) {
	out, stderr, err := s.run(ctx, stdin, args...)
	if err != nil {
		return out, &GitError{Location: s.location, Op: op, Args: args, Stderr: lastLines(stderr, 4), Err: err}
	}
	return out, nil
}

// run is git without the error wrapping, for callers that read git's answer themselves.
func (s *Store) run(ctx context.Context, stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	// Two git commands of one Store at once would race for the repository's lock files
	// (a local ref's, the shallow file's): the lock's waiters and a load share a clone.
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.gitPath, append(append([]string{}, gitConfig...), args...)...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(),
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=desksync", "GIT_AUTHOR_EMAIL=desksync@localhost",
		"GIT_COMMITTER_NAME=desksync", "GIT_COMMITTER_EMAIL=desksync@localhost",
		"LC_ALL=C", // git's messages in English, which pushResult reads
	)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (after %v)", ctx.Err(), gitTimeout)
	}
	return o.Bytes(), e.Bytes(), err
}

// lastLines returns the last n non-empty lines of b, where git says what went wrong.
func lastLines(b []byte, n int) string {
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// pushOutcome is what git push --porcelain said about the one ref pushed.
type pushOutcome int

const (
	pushed   pushOutcome = iota
	rejected             // refused by the lease or by the server's compare-and-swap
	failed               // no answer for the ref: transport, credentials, no repository
)

// push pushes src (a commit, or "" to delete) to dst with the lease expect ("" for
// "dst must not exist") and reports what happened to dst, with git's reason.
func (s *Store) push(ctx context.Context, src, dst, expect string) (pushOutcome, string, error) {
	args := []string{"push", "--porcelain", "--no-verify", "--no-progress",
		"--force-with-lease=" + dst + ":" + expect, "--", s.remote, src + ":" + dst}
	out, stderr, err := s.run(ctx, nil, args...)
	for _, line := range strings.Split(string(out), "\n") {
		flag, rest, ok := strings.Cut(line, "\t")
		if !ok || !strings.Contains(rest, ":"+dst) {
			continue
		}
		_, summary, _ := strings.Cut(rest, "\t")
		switch flag {
		case " ", "+", "-", "*", "=":
			return pushed, summary, nil
		case "!":
			return rejected, summary, nil
		}
	}
	if err == nil {
		err = errors.New("git push did not report the ref")
	}
	return failed, "", &GitError{Location: s.location, Op: "pushing " + dst, Args: args, Stderr: lastLines(stderr, 4), Err: err}
}

// lsRemote returns the commit the remote's ref points at, "" when the ref does not exist.
func (s *Store) lsRemote(ctx context.Context, op, ref string) (string, error) {
	out, err := s.git(ctx, op, nil, "ls-remote", "--", s.remote, ref)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		oid, name, ok := strings.Cut(line, "\t")
		if ok && name == ref {
			return oid, nil
		}
	}
	return "", nil
}

// fetch fetches ref into the local ref local, shallow, and returns the commit; "" when the
// remote has no such ref.
func (s *Store) fetch(ctx context.Context, op, ref, local string) (string, error) {
	args := []string{"fetch", "--quiet", "--depth=1", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
		"--", s.remote, "+" + ref + ":" + local}
	_, stderr, err := s.run(ctx, nil, args...)
	if err != nil {
		// git says "couldn't find remote ref" in words that change between versions:
		// ask the remote instead.
		if oid, lerr := s.lsRemote(ctx, op, ref); lerr == nil && oid == "" {
			return "", nil
		}
		return "", &GitError{Location: s.location, Op: op, Args: args, Stderr: lastLines(stderr, 4), Err: err}
	}
	out, err := s.git(ctx, op, nil, "rev-parse", "--verify", "--quiet", local+"^{commit}")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// treeEntry is one file in a commit's tree.
type treeEntry struct{ name, blob string }

// readTree lists the blobs at the top of commit's tree.
func (s *Store) readTree(ctx context.Context, op, commit string) (map[string]string, error) {
	out, err := s.git(ctx, op, nil, "ls-tree", "-z", commit)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, rec := range strings.Split(string(out), "\x00") {
		meta, name, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if ok && len(f) == 3 && f[1] == "blob" {
			files[name] = f[2]
		}
	}
	return files, nil
}

// readBlob returns a blob, at most limit bytes of it; over that, ok is false.
func (s *Store) readBlob(ctx context.Context, op, blob string, limit int64) (data []byte, ok bool, err error) {
	out, err := s.git(ctx, op, nil, "cat-file", "-s", blob)
	if err != nil {
		return nil, false, err
	}
	var size int64
	if _, err := fmt.Sscan(string(out), &size); err != nil || size > limit {
		return nil, false, nil
	}
	data, err = s.git(ctx, op, nil, "cat-file", "blob", blob)
	return data, err == nil, err
}

// writeBlob stores data as a blob and returns its id.
func (s *Store) writeBlob(ctx context.Context, op string, data []byte) (string, error) {
	out, err := s.git(ctx, op, data, "hash-object", "-w", "--stdin")
	return strings.TrimSpace(string(out)), err
}

// commit makes a commit of the given files with parent (none when "") and message.
func (s *Store) commit(ctx context.Context, op string, files []treeEntry, parent, msg string) (string, error) {
	var tree bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&tree, "100644 blob %s\t%s\n", f.blob, f.name)
	}
	out, err := s.git(ctx, op, tree.Bytes(), "mktree")
	if err != nil {
		return "", err
	}
	args := []string{"commit-tree", strings.TrimSpace(string(out)), "-m", msg}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	out, err = s.git(ctx, op, nil, args...)
	return strings.TrimSpace(string(out)), err
}

// updateRef points the local ref at commit.
func (s *Store) updateRef(ctx context.Context, op, ref, commit string) error {
	_, err := s.git(ctx, op, nil, "update-ref", ref, commit)
	return err
}
