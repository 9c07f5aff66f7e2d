// Package releasetest serves desksync releases the way GitHub lays them out, for the
// tests of the action's install scripts (scripts/action) and of the CI recipes that
// download desksync (internal/recipetest). Start at Serve.
package releasetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// tagRE is a release tag's form, as scripts/action/install.sh and resolve.sh check it.
var tagRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// IsTag reports whether tag has a release tag's form, vX.Y.Z with an optional
// pre-release suffix.
func IsTag(tag string) bool { return tagRE.MatchString(tag) }

// Release is what a server holds.
type Release struct {
	// Binary is the desksync every archive holds: a shell script standing in for it.
	Binary string
	// Platforms are the os_arch pairs with an archive, e.g. "linux_amd64": for
	// windows a .zip of desksync.exe, otherwise a .tar.gz of desksync.
	Platforms []string
	// Tags are the releases there are; none means every tag IsTag accepts.
	Tags []string
	// Latest is the tag /releases/latest redirects to; "" leaves that page unknown.
	Latest string
	// Tamper, if set, is asked at each download of an archive, by file name: true
	// makes the bytes differ from what SHA256SUMS says, as a compromised download's.
	Tamper func(file string) bool
}

// Serve starts a server for r, closed when t's test ends. Its URL + "/releases" is
// what DESKSYNC_RELEASES_URL points at: /releases/latest, /releases/tag/TAG and
// /releases/download/TAG/FILE, where FILE is an archive
// (desksync_VERSION_OS_ARCH.tar.gz or .zip) or SHA256SUMS.
func Serve(t testing.TB, r Release) *httptest.Server {
	t.Helper()
	archives := map[string][]byte{} // platform -> archive; the same for every tag
	for _, p := range r.Platforms {
		var err error
		if strings.HasPrefix(p, "windows_") {
			archives[p], err = zipOf("desksync.exe", r.Binary)
		} else {
			archives[p], err = tarGz("desksync", r.Binary)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	known := func(tag string) bool {
		if len(r.Tags) == 0 {
			return IsTag(tag)
		}
		return slices.Contains(r.Tags, tag)
	}
	files := func(tag string) map[string][]byte {
		out := map[string][]byte{}
		for p, data := range archives {
			ext := ".tar.gz"
			if strings.HasPrefix(p, "windows_") {
				ext = ".zip"
			}
			out[fmt.Sprintf("desksync_%s_%s%s", strings.TrimPrefix(tag, "v"), p, ext)] = data
		}
		var sums strings.Builder
		for _, name := range slices.Sorted(maps.Keys(out)) {
			s := sha256.Sum256(out[name])
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), name)
		}
		out["SHA256SUMS"] = []byte(sums.String())
		return out
	}

	mux := http.NewServeMux()
	if r.Latest != "" {
		mux.HandleFunc("/releases/latest", func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, "/releases/tag/"+r.Latest, http.StatusFound)
		})
	}
	mux.HandleFunc("/releases/tag/{tag}", func(w http.ResponseWriter, req *http.Request) {
		if !known(req.PathValue("tag")) {
			http.NotFound(w, req)
			return
		}
		fmt.Fprintln(w, "release page")
	})
	mux.HandleFunc("/releases/download/{tag}/{file}", func(w http.ResponseWriter, req *http.Request) {
		tag, file := req.PathValue("tag"), req.PathValue("file")
		if !known(tag) {
			http.NotFound(w, req)
			return
		}
		data, ok := files(tag)[file]
		if !ok {
			http.NotFound(w, req)
			return
		}
		if file != "SHA256SUMS" && r.Tamper != nil && r.Tamper(file) {
			data = append(slices.Clip(data), 0)
		}
		w.Write(data)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// tarGz is a gzipped tar of one executable file.
func tarGz(name, body string) ([]byte, error) {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// zipOf is a zip of one file.
func zipOf(name, body string) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
