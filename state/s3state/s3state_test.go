package s3state_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/s3state"
	"github.com/desksync/desksync/state/statetest"
)

func TestMain(m *testing.M) {
	os.Exit(seaweedtest.Main(m).Run())
}

// open returns a Store for a fresh bucket on the test's SeaweedFS.
func open(t *testing.T, srv *seaweedtest.Server, url string) *s3state.Store {
	t.Helper()
	st, err := s3state.Open(context.Background(), url, s3state.Options{
		Endpoint:    srv.Endpoint,
		Region:      seaweedtest.Region,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return st
}

func TestConformance(t *testing.T) {
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	n := 0
	statetest.Run(t, func(t *testing.T) state.Store {
		n++
		return open(t, srv, "s3://"+bucket+"/team/"+t.Name()+"/desksync.state.json")
	})
	_ = n
}
