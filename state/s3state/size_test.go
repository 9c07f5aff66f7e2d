package s3state_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/s3state"
)

// TestLoadTooLargeObject reads a 100 MiB state object from a store that answers it fully:
// the error says the object is too large, and the hint says what to check, not whether the
// store can be reached, which it plainly can.
func TestLoadTooLargeObject(t *testing.T) {
	const size = 100 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "only GET here", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("ETag", `"big"`)
		io.CopyN(w, spaces{}, size)
	}))
	defer srv.Close()
	st, err := s3state.Open(context.Background(), "s3://b/desksync.state.json", s3state.Options{Endpoint: srv.URL, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Load(context.Background())
	var ce *state.CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "s3://b/desksync.state.json: state file is corrupt: object is larger than the 64 MiB desksync reads") {
		t.Fatalf("Load = %v, want a *state.CorruptError saying the object is too large", err)
	}
	hints := strings.Join(hint.Of(err), "\n")
	if strings.Contains(hints, "reachable") || !strings.Contains(hints, "names the state object") {
		t.Errorf("hints %q talk about reachability or do not say to check the state's name", hints)
	}
}

// spaces reads as an endless run of spaces.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
