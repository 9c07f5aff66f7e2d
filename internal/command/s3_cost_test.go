package command

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/seaweedtest"
)

// s3Counter is a reverse proxy in front of SeaweedFS that counts requests by kind and the
// bytes they send.
type s3Counter struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	kinds map[string]int
	sent  int64
}

func (c *s3Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := r.Method
	switch {
	case r.Header.Get("X-Amz-Copy-Source") != "":
		kind = "COPY"
	case r.URL.Query().Has("delete"):
		kind = "DeleteObjects"
	case r.URL.Query().Has("list-type"):
		kind = "LIST"
	case strings.Contains(r.URL.Path, ".journal/"):
		kind += " journal"
	case strings.HasSuffix(r.URL.Path, ".lock"):
		kind += " lock"
	case strings.Contains(r.URL.Path, ".probe/"):
		kind += " probe"
	}
	c.mu.Lock()
	c.kinds[kind]++
	if r.ContentLength > 0 {
		c.sent += r.ContentLength
	}
	c.mu.Unlock()
	c.proxy.ServeHTTP(w, r)
}

func (c *s3Counter) take() (map[string]int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, s := c.kinds, c.sent
	c.kinds, c.sent = map[string]int{}, 0
	return k, s
}

// TestS3ApplyCost measures what a real apply costs on an S3 state: the requests and bytes
// it sends to SeaweedFS, per uploaded file and in all. The figures are in docs/team.md.
func TestS3ApplyCost(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	target, _ := url.Parse(srv.Endpoint)
	counter := &s3Counter{proxy: httputil.NewSingleHostReverseProxy(target), kinds: map[string]int{}}
	s3proxy := httptest.NewServer(counter)
	defer s3proxy.Close()
	desk := httptest.NewServer(desktest.New(desktest.Options{APIKey: scriptAPIKey}))
	defer desk.Close()

	dir := t.TempDir()
	manifest := "version: 1\nattachments:\n  - path: \"files/*.txt\"\n"
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "desksync.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"DESK_URL": desk.URL, "DESK_API_KEY": scriptAPIKey,
		"AWS_ENDPOINT_URL_S3": s3proxy.URL, "AWS_REGION": seaweedtest.Region,
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_EC2_METADATA_DISABLED": "true",
		"DESKSYNC_STATE":            "s3://" + bucket + "/cost/desksync.state.json",
		"DESKSYNC_MANIFEST":         filepath.Join(dir, "desksync.yaml"),
	} {
		t.Setenv(k, v)
	}
	apply := func(files int, round string, args ...string) {
		t.Helper()
		for i := range files {
			name := filepath.Join(dir, "files", fmt.Sprintf("f%03d.txt", i))
			if err := os.WriteFile(name, []byte(round+name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var stdout, stderr bytes.Buffer
		if code := Run(append([]string{"apply", "--auto-approve"}, args...), strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("apply exited %d:\n%s%s", code, stdout.String(), stderr.String())
		}
	}
	// A state of 200 files, then rounds that change 20 of them.
	apply(200, "create")
	const files = 20
	for _, round := range []struct{ name, parallelism string }{{"replace", "1"}, {"replace again", "4"}} {
		counter.take()
		apply(files, round.name, "--parallelism", round.parallelism)
		kinds, sent := counter.take()
		var parts []string
		total := 0
		for k, n := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
			total += n
		}
		sort.Strings(parts)
		t.Logf("apply --parallelism %s, %d of 200 files replaced: %d S3 requests (%.1f per file), %d B sent (%d B per file): %s",
			round.parallelism, files, total, float64(total)/files, sent, sent/files, strings.Join(parts, ", "))
	}
}
