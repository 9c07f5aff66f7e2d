package s3state

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

var _ state.Store = (*Store)(nil)

// requestTimeout bounds one request to the store, a state of state.MaxSize included.
const requestTimeout = 2 * time.Minute

// Options configure Open beyond what the AWS chain provides; the zero value uses the chain.
type Options struct {
	// Endpoint is an S3-compatible store's URL. Empty: AWS_ENDPOINT_URL_S3, then
	// AWS_ENDPOINT_URL, then AWS S3 itself.
	Endpoint string
	// Region overrides AWS_REGION and the profile's region.
	Region string
	// Credentials overrides the standard credential chain.
	Credentials aws.CredentialsProvider
	// Now is the clock for lock times; nil means time.Now.
	Now func() time.Time
	// HTTPClient sends the requests; nil means one with a timeout per request.
	HTTPClient aws.HTTPClient
}

// Store is a state.Store kept in an S3 bucket (see the package doc for its objects). Its
// methods are safe for concurrent use; writes should come from one writer holding the lock.
type Store struct {
	client      *s3.Client
	credentials aws.CredentialsProvider
	bucket, key string
	url         string // s3://BUCKET/KEY, for messages
	endpoint    string // the store's URL, "AWS S3" for AWS itself
	now         func() time.Time

	mu      sync.Mutex
	credsOK bool
	probed  bool
	read    bool     // KEY has been read (or found missing) and decoded
	etag    string   // KEY's ETag as last read or written; "" when KEY does not exist
	stored  []byte   // what KEY plus the journal hold, when known: lets Compact skip a no-op
	journal []string // journal objects that Compact removes
}

// ParseURL splits s3://BUCKET/KEY.
func ParseURL(raw string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(raw, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%q is not an s3://BUCKET/KEY URL", raw)
	case bucket == "" || key == "" || strings.HasSuffix(key, "/"):
		return "", "", hint.New(fmt.Sprintf("%q does not name a bucket and an object key", raw),
			"write it as s3://BUCKET/path/to/desksync.state.json")
	case strings.ContainsAny(bucket, " ?#%\\") || strings.ContainsAny(key, "?#\\") || strings.Contains("/"+key+"/", "/../") || strings.Contains("/"+key+"/", "/./"):
		return "", "", fmt.Errorf("%q: the bucket or key holds characters desksync does not accept in a state location", raw)
	}
	return bucket, key, nil
}

// Open returns the Store for rawURL (s3://BUCKET/KEY). It contacts nothing: credentials are
// looked up, and the store probed, on first use.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	bucket, key, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s := &Store{bucket: bucket, key: key, url: "s3://" + bucket + "/" + key, endpoint: "AWS S3", now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(requestTimeout)),
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s: reading the AWS configuration: %w", s.url, err),
			"check AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE")
	}
	endpoint := opts.Endpoint
	for _, name := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if endpoint == "" {
			endpoint = os.Getenv(name)
		}
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint // endpoint_url in the AWS profile
	}
	if endpoint != "" {
		if s.endpoint, err = checkEndpoint(endpoint); err != nil {
			return nil, err
		}
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return nil, hint.New(fmt.Sprintf("%s: no AWS region", s.url),
				"set AWS_REGION to the bucket's region (or region in the AWS profile)")
		}
		cfg.Region = "us-east-1" // S3-compatible stores take any region
	}
	s.credentials = cfg.Credentials
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	return s, nil
}

// checkEndpoint allows https anywhere and plain http only on loopback, where nothing
// crosses a network. It returns the endpoint fit to print: without a password, query or
// fragment, any of which may hold a credential.
func checkEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", hint.New("the S3 endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) is not an http(s) URL",
			"set it to the store's URL, e.g. https://s3.example.com")
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	shown := u.String()
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", hint.New(fmt.Sprintf("S3 endpoint %s is plain http off loopback: credentials and state would cross the network unencrypted", shown),
			"use the store's https URL")
	}
	return shown, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Path returns the state's location, s3://BUCKET/KEY.
func (s *Store) Path() string { return s.url }

// ready checks once that credentials can be found, so that their absence is reported as
// such and not as whatever the first request makes of it. s.mu must be held.
func (s *Store) ready(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.credsOK {
		return nil
	}
	if s.credentials == nil {
		return &AccessError{URL: s.url, Op: op, Msg: "none found in the environment, the shared profiles or a web identity"}
	}
	if _, err := s.credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &AccessError{URL: s.url, Op: op, Msg: firstLine(err.Error())}
	}
	s.credsOK = true
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Load reads the state object and replays its journal. It returns an error matching
// state.ErrNotExist when there is no state yet.
func (s *Store) Load(ctx context.Context) (*state.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx, "reading the state"); err != nil {
		return nil, err
	}
	return s.load(ctx)
}

// loadAttempts bounds how often load starts over when a writer replaced KEY while it read.
const loadAttempts = 5

// load reads KEY and the journal and remembers the ETag. A reader without the lock (plan)
// can meet a compaction between reading KEY and reading the journal, and find journal
// objects gone or a gap: when KEY has changed meanwhile, it reads again. s.mu must be held.
func (s *Store) load(ctx context.Context) (*state.State, error) {
	for attempt := 1; ; attempt++ {
		st, etag, err := s.loadOnce(ctx)
		if err == nil || attempt == loadAttempts || etag == "" {
			return st, err
		}
		head, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &s.key})
		if herr != nil || aws.ToString(head.ETag) == etag {
			return st, err // KEY is as read: the error stands
		}
	}
}

// loadOnce is one attempt of load; etag is KEY's as read, "" when KEY was not read.
func (s *Store) loadOnce(ctx context.Context) (*state.State, string, error) {
	s.read, s.etag, s.stored, s.journal = false, "", nil, nil
	data, etag, err := s.get(ctx, s.key, state.MaxSize)
	if isNotFound(err) {
		s.read = true
		return nil, "", fmt.Errorf("%s: %w", s.url, state.ErrNotExist)
	}
	if err != nil {
		return nil, "", s.describe("reading the state", err)
	}
	st, err := state.Decode(data)
	if err != nil {
		return nil, "", s.corrupt(err)
	}
	journal, err := s.replay(ctx, st, etag)
	if err != nil {
		return nil, etag, err
	}
	s.read, s.etag, s.journal = true, etag, journal
	if len(journal) == 0 {
		s.stored = data
	}
	return st, etag, nil
}

// corrupt names the object in a decode error and says the object is left alone.
func (s *Store) corrupt(err error) error {
	var ce *state.CorruptError
	if errors.As(err, &ce) {
		ce.Path = s.url
	}
	var ve *state.VersionError
	if errors.As(err, &ve) {
		ve.Path = s.url
	}
	return err
}

// get reads an object of at most limit bytes and returns it with its ETag.
func (s *Store) get(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, "", err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading s3://%s/%s: %w", s.bucket, key, err)
	}
	if int64(len(data)) > limit {
		url := "s3://" + s.bucket + "/" + key
		return nil, "", hint.Wrap(&state.CorruptError{Path: url, Msg: fmt.Sprintf("object is larger than the %d MiB desksync reads", limit>>20)},
			fmt.Sprintf("no desksync state or journal is this large: check that --state (or DESKSYNC_STATE, or the manifest's state:) names the state object, or restore %s from its .backup object or an earlier version in the bucket; desksync will not overwrite it", url))
	}
	return data, aws.ToString(out.ETag), nil
}

// Save bumps st.Serial and writes st whole, keeping the previous object as KEY.backup.
// st.Serial is bumped only when the write succeeded.
func (s *Store) Save(ctx context.Context, st *state.State) error {
	if st == nil {
		return errors.New("saving state: no state given")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := *st
	next.Serial++
	if err := s.writeWhole(ctx, &next); err != nil {
		return err
	}
	st.Serial = next.Serial
	return nil
}

// Compact writes st whole (serial unchanged) and removes the journal; it does nothing when
// the store already holds exactly st.
func (s *Store) Compact(ctx context.Context, st *state.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read && s.etag != "" && len(s.journal) == 0 && s.stored != nil {
		if data, err := st.Encode(); err == nil && bytes.Equal(data, s.stored) {
			return nil
		}
	}
	return s.writeWhole(ctx, st)
}

// writeWhole replaces KEY with st: backup first, then a PUT conditional on the ETag last
// read, then the journal objects it supersedes are removed. s.mu must be held.
func (s *Store) writeWhole(ctx context.Context, st *state.State) error {
	if err := s.prepareWrite(ctx); err != nil {
		return err
	}
	data, err := st.Encode()
	if err != nil {
		return fmt.Errorf("saving state to %s: %w", s.url, err)
	}
	if s.etag != "" {
		src := s.bucket + "/" + escapeKey(s.key)
		backup := s.key + ".backup"
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &backup, CopySource: &src, CopySourceIfMatch: &s.etag})
		if isPrecondition(err) {
			return &ConcurrentWriteError{URL: s.url, Object: s.url}
		}
		if err != nil {
			return s.describe("keeping the previous state as "+s.url+".backup (the state is unchanged)", err)
		}
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &s.key, Body: bytes.NewReader(data), ContentType: aws.String("application/json")}
	if s.etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(s.etag)
	}
	out, err := s.client.PutObject(ctx, in)
	etag := ""
	switch {
	case err == nil:
		etag = aws.ToString(out.ETag)
	case isPrecondition(err):
		// A retried PUT whose first attempt got through is refused too: it is ours.
		cur, curTag, gerr := s.get(ctx, s.key, state.MaxSize)
		if gerr != nil || !bytes.Equal(cur, data) {
			return &ConcurrentWriteError{URL: s.url, Object: s.url}
		}
		etag = curTag
	default:
		return s.describe("saving the state (the previous state is intact)", err)
	}
	s.etag, s.stored = etag, data
	s.dropJournal(ctx)
	return nil
}

// prepareWrite makes sure credentials work, the store honours conditional writes, and the
// ETag of KEY is known (reading KEY if this Store has not yet: a state that does not
// decode is never overwritten). s.mu must be held.
func (s *Store) prepareWrite(ctx context.Context) error {
	if err := s.ready(ctx, "saving the state"); err != nil {
		return err
	}
	if err := s.probe(ctx); err != nil {
		return err
	}
	if s.read {
		return nil
	}
	if _, err := s.load(ctx); err != nil && !errors.Is(err, state.ErrNotExist) {
		return fmt.Errorf("not saving over a state that could not be read: %w", err)
	}
	return nil
}

// dropJournal removes the journal objects KEY now includes, a thousand per request. A
// failure leaves objects whose steps KEY includes, which Load skips and the next write
// removes.
func (s *Store) dropJournal(ctx context.Context) {
	var left []string
	for batch := range slices.Chunk(s.journal, 1000) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i := range batch {
			ids[i] = types.ObjectIdentifier{Key: &batch[i]}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			// Some S3-compatible stores lack the batch call (or its checksum): one by one.
			for _, key := range batch {
				if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
					left = append(left, key)
				}
			}
			continue
		}
		for _, e := range out.Errors {
			left = append(left, aws.ToString(e.Key))
		}
	}
	s.journal = left
}

// escapeKey URL-encodes each segment of key for CopySource, keeping the slashes.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// probe checks once that the store refuses a second conditional create of one object
// (see the package doc). s.mu must be held.
func (s *Store) probe(ctx context.Context) error {
	if s.probed {
		return nil
	}
	key := s.key + ".probe/" + newID()
	put := func() error {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: strings.NewReader("desksync probe\n"), IfNoneMatch: aws.String("*")})
		return err
	}
	obj := "s3://" + s.bucket + "/" + key
	if err := put(); err != nil {
		if status, code, _, _ := apiError(err); status == 501 || code == "NotImplemented" {
			return &ProbeError{Endpoint: s.endpoint, Object: obj, Err: err}
		}
		return s.describe("checking that the store honours conditional writes", err)
	}
	err := put()
	_, derr := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	switch {
	case err == nil:
		return &ProbeError{Endpoint: s.endpoint, Object: obj}
	case !isPrecondition(err):
		return s.describe("checking that the store honours conditional writes", err)
	case derr != nil:
		return s.describe("removing the probe object "+obj, derr)
	}
	s.probed = true
	return nil
}

// newID returns a random version 4 UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// who is user@host, the lock holder's name.
func who() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}
