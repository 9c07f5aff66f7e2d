package s3state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/s3state"
)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var at = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func attachment(id int64) state.Attachment {
	return state.Attachment{ID: id, Filename: fmt.Sprintf("f%d.png", id), MimeType: "image/png", Disposition: "attachment",
		Type: "attachment", Size: 1000 + id, Blake3: hash, State: "active", UploadedAt: at}
}

// keys lists the objects under prefix in bucket.
func keys(t *testing.T, srv *seaweedtest.Server, bucket, prefix string) []string {
	t.Helper()
	out, err := srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, strings.TrimPrefix(aws.ToString(o.Key), prefix))
	}
	return ks
}

func object(t *testing.T, srv *seaweedtest.Server, bucket, key string) []byte {
	t.Helper()
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestJournal follows apply's use of the store: steps appended as journal objects that a
// second reader replays, then compacted into the state object, which is then the file
// format byte for byte.
func TestJournal(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	url := "s3://" + bucket + "/j/desksync.state.json"
	ctx := context.Background()
	w := open(t, srv, url)
	s := state.New("https://x.teamwork.com")
	s.Activate("a.png", attachment(1))
	if err := w.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	steps := [][]state.Mutation{
		{{Op: state.OpSetPending, Address: "b.png", Pending: &state.Pending{ID: 2, Blake3: hash, Filename: "b.png", Size: 5, StartedAt: at}}},
		{{Op: state.OpActivate, Address: "b.png", Attachment: ptr(attachment(2))}, {Op: state.OpForget, Address: "a.png"}},
	}
	for i, muts := range steps {
		serial := s.Serial
		for _, m := range muts {
			if err := s.Apply(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Append(ctx, s, muts); err != nil {
			t.Fatalf("Append #%d: %v", i+1, err)
		}
		if s.Serial != serial+int64(len(muts)) {
			t.Errorf("serial after Append #%d = %d, want %d", i+1, s.Serial, serial+int64(len(muts)))
		}
		got, err := open(t, srv, url).Load(ctx)
		if err != nil {
			t.Fatalf("Load after Append #%d: %v", i+1, err)
		}
		want, _ := s.Encode()
		if b, _ := got.Encode(); !bytes.Equal(b, want) {
			t.Errorf("a second reader loaded\n%s\nafter Append #%d, want\n%s", b, i+1, want)
		}
	}
	journal := keys(t, srv, bucket, "j/desksync.state.json.journal/")
	if len(journal) != 2 {
		t.Fatalf("journal objects = %q, want one per Append", journal)
	}
	// Keep the last journal object, to put it back below as if the compaction had been
	// killed before removing it.
	leftoverKey := "j/desksync.state.json.journal/" + journal[1]
	leftover := object(t, srv, bucket, leftoverKey)
	if err := w.Compact(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, srv, bucket, "j/"); strings.Join(got, " ") != "desksync.state.json desksync.state.json.backup" {
		t.Errorf("objects after Compact = %q, want the state and its backup only", got)
	}
	want, _ := s.Encode()
	if got := object(t, srv, bucket, "j/desksync.state.json"); !bytes.Equal(got, want) {
		t.Errorf("state object after Compact =\n%s\nwant the file format\n%s", got, want)
	}
	if s.Serial != 4 {
		t.Errorf("serial after Compact = %d, want 4 (Compact leaves it)", s.Serial)
	}
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &leftoverKey, Body: bytes.NewReader(leftover)}); err != nil {
		t.Fatal(err)
	}
	r := open(t, srv, url)
	got, err := r.Load(ctx)
	if err != nil {
		t.Fatalf("Load with a leftover the state includes: %v", err)
	}
	if b, _ := got.Encode(); !bytes.Equal(b, want) {
		t.Errorf("Load with a leftover = \n%s\nwant\n%s", b, want)
	}
	if err := r.Compact(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, srv, bucket, "j/desksync.state.json.journal/"); len(got) != 0 {
		t.Errorf("the next Compact left %q", got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestChangedBehindBack checks that no write replaces a state someone else wrote since it
// was read, and that what was recorded before stays.
func TestChangedBehindBack(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	url := "s3://" + bucket + "/c/desksync.state.json"
	ctx := context.Background()
	s := state.New("https://x.teamwork.com")
	s.Activate("a.png", attachment(1))
	if err := open(t, srv, url).Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	mine := open(t, srv, url)
	st, err := mine.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else replaces the state.
	other := open(t, srv, url)
	theirs, err := other.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	theirs.Activate("z.png", attachment(9))
	if err := other.Save(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	theirBytes := object(t, srv, bucket, "c/desksync.state.json")

	m := state.Mutation{Op: state.OpActivate, Address: "b.png", Attachment: ptr(attachment(2))}
	st.Apply(m)
	err = mine.Append(ctx, st, []state.Mutation{m})
	var ce *s3state.ConcurrentWriteError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), url+" was changed by someone else") || ce.Hint() == "" {
		t.Fatalf("Append after another writer's Save = %v, want a *ConcurrentWriteError naming %s", err, url)
	}
	for name, write := range map[string]func() error{
		"Save":    func() error { return mine.Save(ctx, st) },
		"Compact": func() error { return mine.Compact(ctx, st) },
	} {
		if err := write(); !errors.As(err, &ce) {
			t.Errorf("%s after another writer's Save = %v, want a *ConcurrentWriteError", name, err)
		}
	}
	if got := object(t, srv, bucket, "c/desksync.state.json"); !bytes.Equal(got, theirBytes) {
		t.Errorf("the other writer's state was overwritten:\n%s", got)
	}
	// The step this run recorded before it learned of the change is still there, and a
	// reader is told rather than left to skip it.
	_, err = open(t, srv, url).Load(ctx)
	var ue *s3state.UnmergedError
	if !errors.As(err, &ue) || len(ue.Objects) != 1 || !strings.Contains(err.Error(), url+".journal/") {
		t.Fatalf("Load after the refused writes = %v, want an *UnmergedError naming the journal object", err)
	}
}

// TestAppendFenced checks that two writers that loaded one serial cannot both record a step.
func TestAppendFenced(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	url := "s3://" + bucket + "/f/desksync.state.json"
	ctx := context.Background()
	if err := open(t, srv, url).Save(ctx, state.New("https://x.teamwork.com")); err != nil {
		t.Fatal(err)
	}
	a, b := open(t, srv, url), open(t, srv, url)
	sa, _ := a.Load(ctx)
	sb, _ := b.Load(ctx)
	ma := state.Mutation{Op: state.OpActivate, Address: "a.png", Attachment: ptr(attachment(1))}
	mb := state.Mutation{Op: state.OpActivate, Address: "b.png", Attachment: ptr(attachment(2))}
	sa.Apply(ma)
	sb.Apply(mb)
	if err := a.Append(ctx, sa, []state.Mutation{ma}); err != nil {
		t.Fatal(err)
	}
	var ce *s3state.ConcurrentWriteError
	if err := b.Append(ctx, sb, []state.Mutation{mb}); !errors.As(err, &ce) {
		t.Fatalf("second writer's Append at the same serial = %v, want a *ConcurrentWriteError", err)
	}
	got, err := open(t, srv, url).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attachments["a.png"] == nil || got.Attachments["b.png"] != nil {
		t.Errorf("Load = %v, want the first writer's step only", got.Addresses())
	}
}

// TestJournalDamage checks that a journal that does not continue the state is refused as
// a corrupt state, naming the object.
func TestJournalDamage(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	tests := []struct{ name, body, want string }{
		{"gap", `{"lineage":"LINEAGE","serial":5,"mutation":{"op":"forget","address":"a.png"}}`, "step 5 follows serial 1: steps are missing"},
		{"lineage", `{"lineage":"other","serial":2,"mutation":{"op":"forget","address":"a.png"}}`, `lineage "other" is not the state's`},
		{"malformed", `{"lineage":"LINEAGE","serial":2,"mutation":{"op":"activate"}}`, `malformed "activate" mutation`},
		{"not json", `{"lineage":`, "journal: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "d/" + tt.name + "/desksync.state.json"
			s := state.New("https://x.teamwork.com")
			if err := open(t, srv, "s3://"+bucket+"/"+key).Save(ctx, s); err != nil {
				t.Fatal(err)
			}
			body := strings.ReplaceAll(tt.body, "LINEAGE", s.Lineage) + "\n"
			jkey := key + ".journal/00000000000000000002"
			if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &jkey, Body: strings.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
			_, err := open(t, srv, "s3://"+bucket+"/"+key).Load(ctx)
			var ce *state.CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "s3://"+bucket+"/"+jkey) {
				t.Errorf("Load = %v, want a *state.CorruptError naming %s and saying %q", err, jkey, tt.want)
			}
		})
	}
}

// TestProbeRefusesStoreIgnoringIfNoneMatch stands in for Backblaze B2 and Incus, which
// accept If-None-Match and overwrite anyway: a plain HTTP object store that ignores every
// condition. The Store must refuse to lock or write there, naming the store.
func TestProbeRefusesStoreIgnoringIfNoneMatch(t *testing.T) {
	var mu sync.Mutex
	objects := map[string][]byte{}
	careless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			data, _ := io.ReadAll(r.Body)
			objects[r.URL.Path] = data
			w.Header().Set("ETag", fmt.Sprintf(`"%x"`, len(data)))
		case http.MethodGet, http.MethodHead:
			data, ok := objects[r.URL.Path]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no</Message></Error>`)
				return
			}
			w.Write(data)
		case http.MethodDelete:
			delete(objects, r.URL.Path)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer careless.Close()
	st, err := s3state.Open(context.Background(), "s3://bucket/desksync.state.json", s3state.Options{
		Endpoint: careless.URL, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Lock(context.Background(), state.LockInfo{Operation: "apply"})
	var pe *s3state.ProbeError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), careless.URL) || !strings.Contains(err.Error(), "ignores If-None-Match") {
		t.Fatalf("Lock on a store that ignores If-None-Match = %v, want a *ProbeError naming %s", err, careless.URL)
	}
	if err := st.Save(context.Background(), state.New("https://x.teamwork.com")); !errors.As(err, &pe) {
		t.Errorf("Save on that store = %v, want a *ProbeError", err)
	}
	for k := range objects {
		if strings.HasSuffix(k, ".lock") || strings.HasSuffix(k, ".json") {
			t.Errorf("object %s was written to a store that failed the probe", k)
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct{ in, bucket, key, err string }{
		{in: "s3://b/desksync.state.json", bucket: "b", key: "desksync.state.json"},
		{in: "s3://my-bucket/teams/docs/desksync.state.json", bucket: "my-bucket", key: "teams/docs/desksync.state.json"},
		{in: "s3://b", err: "does not name a bucket and an object key"},
		{in: "s3://b/", err: "does not name a bucket and an object key"},
		{in: "s3:///k", err: "does not name a bucket and an object key"},
		{in: "s3://b/dir/", err: "does not name a bucket and an object key"},
		{in: "s3://b/../k", err: "does not accept"},
		{in: "s3://b/k?versionId=1", err: "does not accept"},
		{in: "/tmp/desksync.state.json", err: "is not an s3://BUCKET/KEY URL"},
	}
	for _, tt := range tests {
		b, k, err := s3state.ParseURL(tt.in)
		switch {
		case tt.err == "" && (err != nil || b != tt.bucket || k != tt.key):
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tt.in, b, k, err, tt.bucket, tt.key)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseURL(%q) error = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestOpenRefusesPlainHTTPOffLoopback(t *testing.T) {
	for endpoint, ok := range map[string]bool{
		"http://127.0.0.1:9000": true, "http://localhost:9000": true, "http://[::1]:9000": true,
		"https://s3.example.com": true, "http://s3.example.com": false, "http://10.0.0.5:9000": false, "ftp://x": false,
		"http://user:hunter2@s3.example.com/?token=hunter2": false, "::": false,
	} {
		_, err := s3state.Open(context.Background(), "s3://b/k", s3state.Options{Endpoint: endpoint, Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
		if (err == nil) != ok {
			t.Errorf("Open with endpoint %s: %v, want allowed=%v", endpoint, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows a credential from the endpoint URL", err)
		}
	}
}

func TestMissingBucketAndUnreachableStore(t *testing.T) {
	srv := seaweedtest.Require(t)
	ctx := context.Background()
	_, err := open(t, srv, "s3://no-such-bucket-desksync/desksync.state.json").Load(ctx)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket-desksync" does not exist`) || hint.Of(err) == nil {
		t.Errorf("Load from a missing bucket = %v (hints %q), want an error naming the bucket, with a hint", err, hint.Of(err))
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	st, err := s3state.Open(ctx, "s3://b/desksync.state.json", s3state.Options{Endpoint: gone.URL, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "s3://b/desksync.state.json: reading the state") || len(hint.Of(err)) == 0 {
		t.Errorf("Load from a store that is gone = %v (hints %q), want one naming the state, with a hint", err, hint.Of(err))
	}
}

// TestLoadDuringCompaction reads the state without the lock (as plan does) while a writer
// appends steps and compacts: a reader that meets a compaction half way must read again,
// never report the journal as damaged.
func TestLoadDuringCompaction(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	url := "s3://" + bucket + "/r/desksync.state.json"
	ctx := context.Background()
	w := open(t, srv, url)
	s := state.New("https://x.teamwork.com")
	if err := w.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var loads, failures int
	wg.Go(func() {
		r := open(t, srv, url)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := r.Load(ctx); err != nil {
				failures++
				t.Errorf("Load during writes: %v", err)
			}
			loads++
		}
	})
	for i := range 60 {
		m := state.Mutation{Op: state.OpActivate, Address: fmt.Sprintf("f%02d.png", i), Attachment: ptr(attachment(int64(i + 1)))}
		s.Apply(m)
		if err := w.Append(ctx, s, []state.Mutation{m}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			if err := w.Compact(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d loads during 60 appends and 20 compactions, %d failed", loads, failures)
}

// TestLockStale checks that a lock whose holder ran on this host and is gone is called
// stale, with the hint to force-unlock it, and that force-unlock removes it.
func TestLockStale(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	st := open(t, srv, "s3://"+bucket+"/stale/desksync.state.json")
	ctx := context.Background()
	id, err := st.Lock(ctx, state.LockInfo{Operation: "apply", Who: "ci@" + host})
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the lock as if a process now gone had taken it.
	info := state.LockInfo{ID: id, Operation: "apply", Who: "ci@" + host, PID: dead.ProcessState.Pid(), Created: at}
	data, _ := json.Marshal(info)
	key := "stale/desksync.state.json.lock"
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = open(t, srv, "s3://"+bucket+"/stale/desksync.state.json").Lock(done, state.LockInfo{Operation: "refresh"})
	var le *state.LockedError
	if !errors.As(err, &le) || !le.Stale || !strings.Contains(le.Hint(), "force-unlock "+id) {
		t.Fatalf("Lock over a dead holder's lock = %v (stale %v), want a stale *state.LockedError", err, le != nil && le.Stale)
	}
	if err := st.ForceUnlock(id, false); err != nil {
		t.Fatalf("ForceUnlock of a dead holder's lock: %v", err)
	}
}

// TestEndpointCredentialsNeverPrinted: an endpoint URL may carry a credential in its
// userinfo or query (a pre-signed token); no error or hint about the store shows it, even
// when the SDK's own error holds the request URL.
func TestEndpointCredentialsNeverPrinted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, endpoint := range []string{
		gone.URL + "/?X-Amz-Security-Token=hunter2",
		strings.Replace(gone.URL, "http://", "http://user:hunter2@", 1) + "/#hunter2",
	} {
		st, err := s3state.Open(ctx, "s3://b/desksync.state.json", s3state.Options{Endpoint: endpoint, Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Load(ctx)
		if err == nil {
			t.Fatalf("Load from a store that is gone succeeded")
		}
		shown := err.Error() + "\n" + strings.Join(hint.Of(err), "\n")
		if strings.Contains(shown, "hunter2") {
			t.Errorf("endpoint %s: the error shows its credential:\n%s", endpoint, shown)
		}
		if !strings.Contains(shown, strings.TrimPrefix(gone.URL, "http://")) {
			t.Errorf("endpoint %s: the error does not name the store:\n%s", endpoint, shown)
		}
	}
}
