package recipetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// harness is the desksync of this test binary (testscript puts it on the test
// process's PATH) and the jobs' PATH, which leaves out every folder holding a
// desksync: a job finds desksync only where the recipe installed it, so a recipe or
// an action that installs none fails.
var harness struct {
	once       sync.Once
	desksync   string
	path, curl string
	err        error
}

func findHarness() error {
	harness.once.Do(func() {
		p, err := exec.LookPath("desksync")
		if err != nil {
			harness.err = fmt.Errorf("recipetest runs from a test binary whose TestMain puts desksync on PATH (testscript.Main): %v", err)
			return
		}
		if harness.desksync, err = filepath.Abs(p); err != nil {
			harness.err = err
			return
		}
		var keep []string
		for _, d := range filepath.SplitList(os.Getenv("PATH")) {
			if fi, err := os.Stat(filepath.Join(d, "desksync")); err == nil && !fi.IsDir() {
				continue
			}
			keep = append(keep, d)
		}
		harness.path = strings.Join(keep, string(os.PathListSeparator))
		if harness.curl, err = exec.LookPath("curl"); err != nil {
			harness.err = fmt.Errorf("recipetest needs curl on PATH, as the CI runner images have it: the recipes download desksync with it")
		}
	})
	return harness.err
}

// jobPath is the test process's PATH without any desksync.
func jobPath() string { return harness.path }

var tagRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// releaseServer serves any release tag the way GitHub lays a release out: the linux
// archives of the release build's names, each holding a desksync that runs this
// test binary (the CLI of the tree under test), and their SHA256SUMS. Only
// /releases/latest is unknown, since the recipes pin a tag. With tamper set, the
// archives differ from what SHA256SUMS says.
func releaseServer(tamper func() bool) *httptest.Server {
	wrapper := "#!/bin/sh\nexec '" + harness.desksync + "' \"$@\"\n"
	files := func(tag string) map[string][]byte {
		out := map[string][]byte{}
		var sums strings.Builder
		for _, arch := range []string{"amd64", "arm64"} {
			name := fmt.Sprintf("desksync_%s_linux_%s.tar.gz", strings.TrimPrefix(tag, "v"), arch)
			out[name] = tarGz("desksync", wrapper)
			s := sha256.Sum256(out[name])
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), name)
			if tamper() {
				out[name] = append(out[name], 0)
			}
		}
		out["SHA256SUMS"] = []byte(sums.String())
		return out
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/releases/download/{tag}/{file}", func(w http.ResponseWriter, r *http.Request) {
		tag := r.PathValue("tag")
		if !tagRE.MatchString(tag) {
			http.NotFound(w, r)
			return
		}
		data, ok := files(tag)[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	})
	return httptest.NewServer(mux)
}

// tarGz is a gzipped tar of one executable file.
func tarGz(name, body string) []byte {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	gz.Close()
	return b.Bytes()
}
