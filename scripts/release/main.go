// Command release builds desksync's release archives and their SHA256SUMS from one
// commit, reproducibly: the same commit and Go toolchain give byte-identical files,
// wherever and whenever they are built. docs/release.md says how to cut a release.
//
//	go run ./scripts/release -version v1.3.0          # HEAD must carry that tag
//	go run ./scripts/release -snapshot -targets linux/amd64,windows/arm64
//
// The sources come from "git archive" of the commit, never the work tree, so an
// uncommitted edit cannot reach a release. Each binary is built with -trimpath,
// -buildvcs=false and CGO_ENABLED=0, the version and commit stamped in with -ldflags;
// each archive's entries carry the commit's time, no owner and fixed modes.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// allTargets are the platforms a release ships for.
var allTargets = []string{
	"linux/amd64", "linux/arm64",
	"darwin/amd64", "darwin/arm64",
	"windows/amd64", "windows/arm64",
}

const module = "github.com/desksync/desksync"

// releaseTag is what a release version looks like: the action and the manifest's
// "desksync:" constraint both read it as semantic versioning.
var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release: error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	version := fs.String("version", "", "the release tag to build (HEAD must carry it); default: the tag at HEAD")
	snapshot := fs.Bool("snapshot", false, "build HEAD whatever its tags, as version v0.0.0-snapshot.<commit>")
	targets := fs.String("targets", strings.Join(allTargets, ","), "comma-separated GOOS/GOARCH pairs")
	out := fs.String("out", "dist", "the folder to write the archives and SHA256SUMS into (must not exist)")
	commitish := fs.String("commit", "HEAD", "the commit to build")
	if err := fs.Parse(args); err != nil {
		return err
	}
	commit, err := git("rev-parse", "--verify", *commitish+"^{commit}")
	if err != nil {
		return err
	}
	when, err := git("log", "-1", "--format=%ct", commit)
	if err != nil {
		return err
	}
	epoch, err := strconv.ParseInt(when, 10, 64)
	if err != nil {
		return fmt.Errorf("commit time %q: %w", when, err)
	}
	v, err := chooseVersion(*version, *snapshot, commit)
	if err != nil {
		return err
	}
	list := strings.Split(*targets, ",")
	for _, t := range list {
		if !slices.Contains(allTargets, t) {
			return fmt.Errorf("unknown target %q; the release targets are %s", t, strings.Join(allTargets, ", "))
		}
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists; remove it or name another folder with -out", *out)
	}
	src, err := os.MkdirTemp("", "desksync-release-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := exportCommit(commit, src); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	mtime := time.Unix(epoch, 0).UTC()
	var names []string
	for _, t := range list {
		name, err := buildTarget(src, *out, t, v, commit, mtime)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		names = append(names, name)
	}
	if err := writeSums(*out, names); err != nil {
		return err
	}
	fmt.Printf("desksync %s (commit %s): %d archives and SHA256SUMS in %s\n", v, commit[:12], len(names), *out)
	return nil
}

// chooseVersion is the version to stamp: a snapshot's is derived from the commit and
// sorts before every release, so no constraint mistakes it for one.
func chooseVersion(flagVersion string, snapshot bool, commit string) (string, error) {
	if snapshot {
		if flagVersion != "" {
			return "", errors.New("-snapshot and -version exclude each other")
		}
		return "v0.0.0-snapshot." + commit[:12], nil
	}
	tags, err := git("tag", "--points-at", commit)
	if err != nil {
		return "", err
	}
	var release []string
	for _, t := range strings.Fields(tags) {
		if releaseTag.MatchString(t) {
			release = append(release, t)
		}
	}
	switch {
	case flagVersion == "" && len(release) == 1:
		return release[0], nil
	case flagVersion == "":
		return "", fmt.Errorf("commit %s carries %d release tags (%s); name one with -version, or build a -snapshot", commit[:12], len(release), strings.Join(release, " "))
	case !releaseTag.MatchString(flagVersion):
		return "", fmt.Errorf("version %q is not a release tag such as v1.3.0", flagVersion)
	case !slices.Contains(release, flagVersion):
		return "", fmt.Errorf("commit %s is not tagged %s; tag it first (git tag -a %s) or build a -snapshot", commit[:12], flagVersion, flagVersion)
	}
	return flagVersion, nil
}

// exportCommit writes the commit's tree into dir.
func exportCommit(commit, dir string) error {
	cmd := exec.Command("git", "archive", "--format=tar", commit)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	r, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading git archive: %w", err)
		}
		// git archive writes only clean relative names; refuse anything else anyway.
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFile(p, tr, os.FileMode(h.Mode)&0o755|0o644)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		}
		if err != nil {
			return err
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %v: %s", commit, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func writeFile(p string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// archiveName is the file a target's release is published as; the action computes
// the same name (scripts/action/install.sh).
func archiveName(version, goos, goarch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("desksync_%s_%s_%s%s", strings.TrimPrefix(version, "v"), goos, goarch, ext)
}

func buildTarget(src, out, target, version, commit string, mtime time.Time) (string, error) {
	goos, goarch, _ := strings.Cut(target, "/")
	exe := "desksync"
	if goos == "windows" {
		exe += ".exe"
	}
	bin := filepath.Join(src, ".release", target, exe)
	ldflags := fmt.Sprintf("-s -w -X %[1]s/internal/command.stampedVersion=%[2]s -X %[1]s/internal/command.stampedCommit=%[3]s", module, version, commit)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	files := []archived{{name: exe, path: bin, mode: 0o755}}
	for _, doc := range []string{"README.md", "SECURITY.md", "LICENSE"} {
		if _, err := os.Stat(filepath.Join(src, doc)); err == nil {
			files = append(files, archived{name: doc, path: filepath.Join(src, doc), mode: 0o644})
		}
	}
	name := archiveName(version, goos, goarch)
	var buf bytes.Buffer
	var err error
	if goos == "windows" {
		err = writeZip(&buf, files, mtime)
	} else {
		err = writeTarGz(&buf, files, mtime)
	}
	if err != nil {
		return "", err
	}
	return name, os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644)
}

type archived struct {
	name string
	path string
	mode int64
}

// writeTarGz writes a gzip'd tar whose bytes depend only on the files' names,
// contents and modes: mtime is the commit's, owners are root with no names, and the
// gzip header carries no name or time.
func writeTarGz(w io.Writer, files []archived, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes a zip whose entries carry the commit's time in UTC.
func writeZip(w io.Writer, files []archived, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(os.FileMode(f.mode))
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeSums writes SHA256SUMS in the format "sha256sum -c" and "shasum -a 256 -c" read.
func writeSums(out string, names []string) error {
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(out, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(b.String()), 0o644)
}

func git(args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("git", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
