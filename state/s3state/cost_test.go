package s3state_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/s3state"
)

// counting is an HTTP client that counts requests by kind and the bytes they send.
type counting struct {
	mu        sync.Mutex
	kinds     map[string]int
	sent      int64
	checksums []string // requests that carried a flexible checksum header
}

func (c *counting) Do(r *http.Request) (*http.Response, error) {
	kind := r.Method
	switch {
	case r.Header.Get("X-Amz-Copy-Source") != "":
		kind = "COPY"
	case strings.Contains(r.URL.Path, ".journal/"):
		kind += " journal"
	case strings.HasSuffix(r.URL.Path, ".lock"):
		kind += " lock"
	case strings.Contains(r.URL.Path, ".probe/"):
		kind += " probe"
	}
	c.mu.Lock()
	for h := range r.Header {
		if strings.HasPrefix(strings.ToLower(h), "x-amz-checksum-") || strings.EqualFold(h, "X-Amz-Sdk-Checksum-Algorithm") {
			c.checksums = append(c.checksums, kind+" "+h)
		}
	}
	c.kinds[kind]++
	if r.ContentLength > 0 {
		c.sent += r.ContentLength
	}
	c.mu.Unlock()
	return http.DefaultClient.Do(r)
}

func (c *counting) reset() (map[string]int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, s := c.kinds, c.sent
	c.kinds, c.sent = map[string]int{}, 0
	return k, s
}

func summary(kinds map[string]int, per int) string {
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(n)/float64(per)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// TestSaveCost measures what recording apply's steps costs on S3: per uploaded file, the
// two steps apply records (pending, then active) as journal objects, against writing the
// whole state each time. The figures are in docs/team.md; the test checks that a step's
// cost does not grow with the state.
func TestSaveCost(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	const files = 20
	var perStep []int64
	for _, tracked := range []int{10, 1000} {
		url := fmt.Sprintf("s3://%s/cost-%d/desksync.state.json", bucket, tracked)
		s := state.New("https://x.teamwork.com")
		for i := range tracked {
			s.Activate(fmt.Sprintf("docs/file-%05d.png", i), attachment(int64(i+1)))
		}
		if err := open(t, srv, url).Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		size, _ := s.Encode()
		c := &counting{kinds: map[string]int{}}
		st, err := s3state.Open(ctx, url, s3state.Options{Endpoint: srv.Endpoint, Region: seaweedtest.Region,
			Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""), HTTPClient: c})
		if err != nil {
			t.Fatal(err)
		}
		id, err := st.Lock(ctx, state.LockInfo{Operation: "apply"})
		if err != nil {
			t.Fatal(err)
		}
		s, err = st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		setup, _ := c.reset()
		start := time.Now()
		for i := range files {
			addr, fid := fmt.Sprintf("new/file-%03d.png", i), int64(100000+i)
			steps := []state.Mutation{
				{Op: state.OpSetPending, Address: addr, Pending: &state.Pending{ID: fid, Blake3: hash, Filename: "f.png", Size: 10, StartedAt: at}},
				{Op: state.OpActivate, Address: addr, Attachment: ptr(attachment(fid))},
			}
			for _, m := range steps {
				s.Apply(m)
				if err := st.Append(ctx, s, []state.Mutation{m}); err != nil {
					t.Fatal(err)
				}
			}
		}
		appends, appendBytes := c.reset()
		took := time.Since(start)
		if err := st.Compact(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := st.Unlock(id); err != nil {
			t.Fatal(err)
		}
		compact, compactBytes := c.reset()
		t.Logf("state of %d files (%d B): lock+load: %s", tracked, len(size), summary(setup, 1))
		t.Logf("  per uploaded file (2 steps): %s; %d B sent (a whole-state save per step would send %d B)",
			summary(appends, files), appendBytes/files, 2*int64(len(size)))
		t.Logf("  %v per step against SeaweedFS on loopback", (took / (2 * files)).Round(time.Microsecond))
		t.Logf("  compact + unlock at the end: %s; %d B sent", summary(compact, 1), compactBytes)
		start = time.Now()
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Logf("  for comparison, one whole-state Save: %s, %v", summary(func() map[string]int { k, _ := c.reset(); return k }(), 1), time.Since(start).Round(time.Microsecond))
		perStep = append(perStep, appendBytes/files)
		// With a custom endpoint only what the API requires carries a checksum
		// (DeleteObjects); the SDK's default CRCs on every PUT break several stores.
		for _, h := range c.checksums {
			if !strings.HasPrefix(h, "POST ") {
				t.Errorf("request with a checksum the API does not require: %s", h)
			}
		}
		if appends["PUT journal"] != 2*files || appends["HEAD"] != 2*files || len(appends) != 2 {
			t.Errorf("requests for %d files = %v, want one journal PUT and one HEAD per step", files, appends)
		}
	}
	if perStep[1] > perStep[0]+64 {
		t.Errorf("bytes per step grew with the state: %d B at 10 files, %d B at 1000", perStep[0], perStep[1])
	}
}
