// Package gittest serves bare git repositories on loopback for tests, over the three
// transports a git state home meets: git daemon (git://), git http-backend behind
// net/http/cgi (http://), and a plain file:// path. Every test talks to a real git
// server process, never to a fake.
//
// A test calls [New] for a server of one transport, [Server.NewRepo] for a fresh bare
// repository on it, and [Clone] for a working repository whose origin is that URL.
// Tests that need git call [Require], which skips them when the machine has no git.
package gittest

import (
	"bytes"
	"fmt"
	"net"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Transport names how a Server is reached.
type Transport string

// The transports New serves.
const (
	File   Transport = "file"
	Daemon Transport = "daemon"
	HTTP   Transport = "http"
)

// Transports lists them all, for tests that run once per transport.
var Transports = []Transport{File, Daemon, HTTP}

// Server serves the bare repositories under one folder.
type Server struct {
	Transport Transport
	Base      string // the folder holding the bare repositories
	url       string // the URL of Base, without a trailing slash
	n         atomic.Int32
}

// Require returns the git command, or skips the test when there is none. With
// DESKSYNC_LONG_TESTS=1 a missing git fails the test: CI must not pass by skipping.
func Require(t testing.TB) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("DESKSYNC_LONG_TESTS") == "1" {
			t.Fatalf("git is needed by this test: %v", err)
		}
		t.Skipf("no git on PATH: %v", err)
	}
	return git
}

// Env is the environment tests run git in: no user or system configuration, so that a
// developer's settings (hooks, signing, URL rewrites) cannot change what a test sees.
func Env() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
}

// Isolate sets Env's variables for the whole test, for code under test that runs git
// itself.
func Isolate(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
}

// Run runs git in dir and returns its trimmed stdout, failing the test on an error.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := Try(dir, args...)
	if err != nil {
		t.Fatalf("git %s (in %s): %v", strings.Join(args, " "), dir, err)
	}
	return out
}

// Try runs git in dir and returns its trimmed stdout, or an error holding its stderr.
func Try(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// New starts a server of the given transport for the test; it stops when the test ends.
func New(t testing.TB, tr Transport) *Server {
	t.Helper()
	git := Require(t)
	s := &Server{Transport: tr, Base: t.TempDir()}
	switch tr {
	case File:
		s.url = "file://" + filepath.ToSlash(s.Base)
	case Daemon:
		s.url = startDaemon(t, git, s.Base)
	case HTTP:
		h := &cgi.Handler{Path: git, Args: []string{"http-backend"}, Dir: s.Base,
			Env: []string{"GIT_PROJECT_ROOT=" + s.Base, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		s.url = srv.URL
	default:
		t.Fatalf("gittest: unknown transport %q", tr)
	}
	return s
}

// startDaemon runs git daemon on a free loopback port and waits until it accepts
// connections.
func startDaemon(t testing.TB, git, base string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		url, err := tryDaemon(t, git, base)
		if err == nil {
			return url
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
}

// tryDaemon starts git daemon once; it fails when another process took the port between
// the probe's Close and the daemon's bind.
func tryDaemon(t testing.TB, git, base string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(git, "daemon", "--export-all", "--enable=receive-pack", "--reuseaddr", "--informative-errors",
		"--listen=127.0.0.1", "--port="+port, "--base-path="+base, base)
	cmd.Env = Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The daemon serves each connection in a child that holds stderr open; Wait must
	// not wait for those.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting git daemon: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Cleanup(func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the daemon and its children
				<-exited
			})
			return "git://" + addr, nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("git daemon exited: %v: %s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	<-exited
	return "", fmt.Errorf("git daemon did not accept connections within 30s: %s", stderr.String())
}

// NewRepo creates an empty bare repository on the server and returns its URL.
func (s *Server) NewRepo(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("repo%d.git", s.n.Add(1))
	dir := filepath.Join(s.Base, name)
	Run(t, s.Base, "init", "--quiet", "--bare", dir)
	Run(t, dir, "config", "http.receivepack", "true") // http-backend refuses pushes from an anonymous user otherwise
	return s.url + "/" + name
}

// RepoDir returns the folder of the bare repository at url, for inspecting it.
func (s *Server) RepoDir(url string) string {
	return filepath.Join(s.Base, filepath.Base(url))
}

// Clone creates a working repository whose origin is url (nothing is fetched: the state
// ref is all a test needs) and returns its folder.
func Clone(t testing.TB, url string) string {
	t.Helper()
	dir := t.TempDir()
	Run(t, dir, "init", "--quiet")
	Run(t, dir, "remote", "add", "origin", url)
	return dir
}
