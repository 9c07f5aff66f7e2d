//go:build unix

package command

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/desksync/desksync/state"
)

// TestS3KillTorture kills apply with SIGKILL at random moments with the state on S3,
// removes the lock it leaves with force-unlock, and checks that the next apply converges
// with nothing orphaned and every file's content on Desk.
func TestS3KillTorture(t *testing.T) {
	srv := seaweedtest.Require(t)
	if _, err := exec.LookPath("desksync"); err != nil {
		t.Skip("desksync is not on PATH (TestMain puts it there)")
	}
	bucket := srv.NewBucket(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	emu := desktest.New(desktest.Options{APIKey: scriptAPIKey})
	k := &killer{next: emu}
	desk := httptest.NewServer(k)
	defer desk.Close()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "desksync.yaml"), []byte("version: 1\nattachments:\n  - path: \"files/*.txt\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stateURL := "s3://" + bucket + "/torture/desksync.state.json"
	env := append(os.Environ(), "DESK_URL="+desk.URL, "DESK_API_KEY="+scriptAPIKey,
		"AWS_ENDPOINT_URL_S3="+srv.Endpoint, "AWS_REGION="+seaweedtest.Region,
		"AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true", "DESKSYNC_STATE="+stateURL, "NO_COLOR=1")
	desksync := func(args ...string) *exec.Cmd {
		cmd := exec.Command("desksync", args...)
		cmd.Dir, cmd.Env = dir, env
		return cmd
	}
	want := map[string][]byte{}
	write := func(name string, n int) {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte('a' + rng.IntN(26))
		}
		want[name] = data
		if err := os.WriteFile(filepath.Join(dir, "files", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		write(fmt.Sprintf("f%02d.txt", i), 10+rng.IntN(2000))
	}
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	temps, killed, locks := 0, 0, 0
	for round := range rounds {
		// Change some files, add one, remove one.
		for range 1 + rng.IntN(3) {
			write(fmt.Sprintf("f%02d.txt", rng.IntN(8)), 10+rng.IntN(2000))
		}
		write(fmt.Sprintf("new%02d.txt", round), 10+rng.IntN(500))
		if round > 0 {
			gone := fmt.Sprintf("new%02d.txt", rng.IntN(round))
			delete(want, gone)
			os.Remove(filepath.Join(dir, "files", gone))
		}

		victim := desksync("apply", "--auto-approve", "--parallelism", fmt.Sprint(1+rng.IntN(4)))
		var out bytes.Buffer
		victim.Stdout, victim.Stderr = &out, &out
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		// Killed at a random Desk call, before Desk handles it or after (then the
		// answer never arrives).
		k.arm(victim.Process, 1+rng.IntN(8), rng.IntN(2) == 0)
		err := victim.Wait()
		k.arm(nil, 0, false)
		if err != nil && strings.Contains(err.Error(), "killed") {
			killed++
		}

		// A lock left behind names its holder; force-unlock removes it.
		if id := lockID(t, srv, bucket, "torture/desksync.state.json.lock"); id != "" {
			locks++
			if b, err := desksync("force-unlock", id).CombinedOutput(); err != nil {
				t.Fatalf("round %d: force-unlock %s: %v\n%s", round, id, err, b)
			}
		}
		if b, err := desksync("apply", "--auto-approve").CombinedOutput(); err != nil {
			t.Fatalf("round %d: apply after the kill: %v\n%s\nkilled run:\n%s", round, err, b, out.String())
		}
		pulled, err := desksync("state", "pull").Output()
		if err != nil {
			t.Fatalf("round %d: state pull: %v", round, err)
		}
		st, err := state.Decode(pulled)
		if err != nil {
			t.Fatalf("round %d: pulled state: %v", round, err)
		}
		problem, n := checkConvergedOn(st, emu.Files())
		if problem != "" {
			t.Fatalf("round %d: %s\nkilled run:\n%s", round, problem, out.String())
		}
		temps = n
		for name, data := range want {
			a := st.Attachments["files/"+name]
			if a == nil {
				t.Fatalf("round %d: files/%s is not tracked", round, name)
			}
			sum := md5.Sum(data)
			if f := fileByID(emu, a.ID); f.MD5 != hex.EncodeToString(sum[:]) {
				t.Fatalf("round %d: files/%s: Desk file %d holds other content", round, name, a.ID)
			}
		}
		if len(st.Attachments) != len(want) {
			t.Fatalf("round %d: state tracks %d files, want %d", round, len(st.Attachments), len(want))
		}
	}
	t.Logf("%d rounds converged; %d applies killed mid-run, %d left the lock; %d temp files left by kills between a ref and its answer",
		rounds, killed, locks, temps)
	if killed == 0 {
		t.Errorf("no kill landed while apply ran: the test checked nothing")
	}
}

// killer sits in front of the emulator and SIGKILLs a process at its n-th request.
type killer struct {
	next  http.Handler
	mu    sync.Mutex
	proc  *os.Process
	n     int
	after bool
}

func (k *killer) arm(p *os.Process, n int, after bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.proc, k.n, k.after = p, n, after
}

func (k *killer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	var victim *os.Process
	if k.proc != nil {
		if k.n--; k.n == 0 {
			victim = k.proc
		}
	}
	after := k.after
	k.mu.Unlock()
	if victim != nil && !after {
		victim.Signal(syscall.SIGKILL)
		return
	}
	k.next.ServeHTTP(w, r)
	if victim != nil {
		victim.Signal(syscall.SIGKILL)
	}
}

// lockID returns the id in the lock object, or "" when there is none.
func lockID(t *testing.T, srv *seaweedtest.Server, bucket, key string) string {
	t.Helper()
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchKey") || strings.Contains(err.Error(), "404") {
			return ""
		}
		t.Fatal(err)
	}
	defer out.Body.Close()
	data, _ := io.ReadAll(out.Body)
	var info state.LockInfo
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatalf("lock object does not parse: %v\n%s", err, data)
	}
	return info.ID
}
