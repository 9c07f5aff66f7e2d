package seaweedtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Environment variables: the first two are the user's, the rest Main's message to Require.
const (
	envWeed      = "DESKSYNC_WEED"
	envLong      = "DESKSYNC_LONG_TESTS"
	envEndpoint  = "DESKSYNC_TEST_S3_ENDPOINT"
	envAccessKey = "DESKSYNC_TEST_S3_ACCESS_KEY"
	envSecretKey = "DESKSYNC_TEST_S3_SECRET_KEY"
	envSkip      = "DESKSYNC_TEST_S3_UNAVAILABLE"
)

// Region is the region the tests sign for; SeaweedFS accepts any.
const Region = "us-east-1"

// startTimeout bounds how long SeaweedFS may take to serve S3 requests.
const startTimeout = 90 * time.Second

// Server is the running SeaweedFS as a test sees it.
type Server struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
}

// TestingM is what testing.M and testscript.Main share.
type TestingM interface{ Run() int }

type wrapped struct{ m TestingM }

// Main returns m wrapped so that its Run starts SeaweedFS first (when DESKSYNC_WEED names
// a binary) and stops it after the tests: os.Exit(seaweedtest.Main(m).Run()), or
// testscript.Main(seaweedtest.Main(m), commands).
func Main(m TestingM) TestingM { return wrapped{m} }

func (w wrapped) Run() int {
	flag.Parse()
	if onlyFuzzing() {
		os.Setenv(envSkip, "SeaweedFS not started for a fuzz run")
		return w.m.Run()
	}
	weed := os.Getenv(envWeed)
	if weed == "" {
		os.Setenv(envSkip, "SeaweedFS not configured: set DESKSYNC_WEED to a weed binary (.ci/run builds one into ~/.cache/desksync)")
		return w.m.Run()
	}
	dir, err := os.MkdirTemp("", "seaweedtest-")
	if err != nil {
		os.Setenv(envSkip, "SeaweedFS: "+err.Error())
		return w.m.Run()
	}
	defer os.RemoveAll(dir)
	srv, stop, err := start(weed, dir)
	if err != nil {
		os.Setenv(envSkip, "SeaweedFS did not start: "+err.Error())
		return w.m.Run()
	}
	defer stop()
	os.Setenv(envEndpoint, srv.Endpoint)
	os.Setenv(envAccessKey, srv.AccessKey)
	os.Setenv(envSecretKey, srv.SecretKey)
	return w.m.Run()
}

// onlyFuzzing reports a run that executes no tests (-run '^$', as .ci/run fuzzes) or is
// a fuzz worker, where starting SeaweedFS would only cost seconds per process.
func onlyFuzzing() bool {
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return true
	}
	f := flag.Lookup("test.run")
	return f != nil && f.Value.String() == "^$"
}

// Require returns the running SeaweedFS, or skips t saying why there is none; with
// DESKSYNC_LONG_TESTS=1 it fails t instead.
func Require(t testing.TB) *Server {
	t.Helper()
	if e := os.Getenv(envEndpoint); e != "" {
		return &Server{Endpoint: e, AccessKey: os.Getenv(envAccessKey), SecretKey: os.Getenv(envSecretKey)}
	}
	why := os.Getenv(envSkip)
	if why == "" {
		why = "SeaweedFS not started: wrap the tests with seaweedtest.Main in TestMain"
	}
	if os.Getenv(envLong) != "" {
		t.Fatalf("%s (DESKSYNC_LONG_TESTS is set, so S3 tests must run)", why)
	}
	t.Skip(why)
	return nil
}

// Client returns an S3 client for the server, for setting up and inspecting tests.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// NewBucket creates an empty bucket with a fresh name and returns the name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name, err := s.CreateBucket()
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// CreateBucket is NewBucket for code that has no testing.TB, such as a testscript Setup.
func (s *Server) CreateBucket() (string, error) {
	name := "t-" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		return "", fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// start runs weed mini in dir on free loopback ports and waits until it serves S3.
func start(weed, dir string) (*Server, func(), error) {
	if _, err := os.Stat(weed); err != nil {
		return nil, nil, fmt.Errorf("DESKSYNC_WEED=%s: %w", weed, err)
	}
	srv := &Server{AccessKey: "AK" + strings.ToUpper(randomHex(9)), SecretKey: randomHex(20)}
	identities, _ := json.Marshal(map[string]any{"identities": []any{map[string]any{
		"name":        "desksync-test",
		"credentials": []any{map[string]string{"accessKey": srv.AccessKey, "secretKey": srv.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}})
	idFile := filepath.Join(dir, "identities.json")
	if err := os.WriteFile(idFile, identities, 0o600); err != nil {
		return nil, nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(dir, "weed.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(weed, "mini", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port="+p(0), "-master.port.grpc="+p(1),
		"-volume.port="+p(2), "-volume.port.grpc="+p(3),
		"-filer.port="+p(4), "-filer.port.grpc="+p(5),
		"-s3.port="+p(6), "-s3.port.grpc="+p(7),
		"-s3.config="+idFile, "-s3.autoCreateBucket=false",
		"-webdav=false", "-admin.ui=false", "-master.telemetry=false",
		"-s3.port.iceberg=0", "-s3.port.lance=0")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	}
	srv.Endpoint = "http://127.0.0.1:" + p(6)
	if err := waitReady(srv, exited); err != nil {
		stop()
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return nil, nil, fmt.Errorf("%w; weed's log ends:\n%s", err, tail)
	}
	return srv, stop, nil
}

// waitReady polls until a bucket can be created and deleted: S3 answering is not enough,
// the filer and a volume must be up too.
func waitReady(srv *Server, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	client := srv.Client()
	name := "ready-" + randomHex(4)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("weed exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, last = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
		if last == nil {
			_, last = client.PutObject(ctx, &s3.PutObjectInput{Bucket: &name, Key: aws.String("ready"), Body: bytes.NewReader([]byte("ok"))})
		}
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("S3 at %s not ready after %v: %v", srv.Endpoint, startTimeout, last)
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
