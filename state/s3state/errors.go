package s3state

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

// ConcurrentWriteError reports that the state object changed since this run read it: someone
// else wrote it. Nothing was overwritten.
type ConcurrentWriteError struct {
	URL    string // s3://BUCKET/KEY
	Object string // the object whose conditional write was refused
}

func (e *ConcurrentWriteError) Error() string {
	return fmt.Sprintf("%s was changed by someone else since this run read it; not overwriting it (conditional write of %s refused)", e.URL, e.Object)
}

// Hint tells the user how to proceed.
func (e *ConcurrentWriteError) Hint() string {
	return "another run wrote this state without holding its lock (or after a force-unlock); what this run recorded before is kept. Run \"desksync plan\" to see the state as it is now, then apply again"
}

// ProbeError reports a store that does not honour If-None-Match, so its lock would exclude
// no one and its conditional writes would not protect the state.
type ProbeError struct {
	Endpoint string // the store, "AWS S3" when no endpoint was set
	Object   string // the probe object
	Err      error  // set when the probe itself failed rather than being ignored
}

func (e *ProbeError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("the S3 store at %s does not support conditional writes (If-None-Match: * on %s): %v", e.Endpoint, e.Object, e.Err)
	}
	return fmt.Sprintf("the S3 store at %s ignores If-None-Match: a second conditional create of %s succeeded instead of failing with 412, so its locks would exclude no one", e.Endpoint, e.Object)
}

func (e *ProbeError) Unwrap() error { return e.Err }

// Hint tells the user what to use instead.
func (e *ProbeError) Hint() string {
	return "desksync refuses to keep a state there; use a store that honours conditional writes (AWS S3, MinIO, SeaweedFS, Cloudflare R2, Ceph RGW) or keep the state in git"
}

// AccessError reports credentials that are missing or that the store refused.
type AccessError struct {
	URL    string // s3://BUCKET/KEY
	Op     string // what was being done, e.g. "reading the state"
	Status int    // the HTTP status, 0 when no request was made
	Code   string // the store's error code, such as SignatureDoesNotMatch
	Msg    string // the store's message, or why no credentials were found
}

func (e *AccessError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s: no AWS credentials: %s", e.URL, e.Op, e.Msg)
	}
	return fmt.Sprintf("%s: %s: the store refused the credentials: %d %s: %s", e.URL, e.Op, e.Status, e.Code, e.Msg)
}

// Hint tells the user where credentials come from.
func (e *AccessError) Hint() string {
	return "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE for CI OIDC), allowed to read, write and delete the state's objects (KEY, KEY.backup, KEY.lock, KEY.journal/*, KEY.probe/*)"
}

// apiError is what the store answered: its HTTP status, error code and message.
func apiError(err error) (status int, code, msg string, ok bool) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return status, ae.ErrorCode(), ae.ErrorMessage(), true
	}
	return status, "", "", status != 0
}

// isPrecondition reports a conditional write refused: 412, or 409 for one that raced
// another conditional write of the same object (AWS's ConditionalRequestConflict).
func isPrecondition(err error) bool {
	status, code, _, _ := apiError(err)
	return status == http.StatusPreconditionFailed || status == http.StatusConflict ||
		code == "PreconditionFailed" || code == "ConditionalRequestConflict"
}

func isNotFound(err error) bool {
	status, code, _, _ := apiError(err)
	return status == http.StatusNotFound && code != "NoSuchBucket" || code == "NoSuchKey" || code == "NotFound"
}

// describe turns an SDK error into one that names the object and what the store said;
// refused credentials become an *AccessError.
func (s *Store) describe(op string, err error) error {
	status, code, msg, ok := apiError(err)
	var ce *state.CorruptError
	switch {
	case errors.As(err, &ce):
		return err // the store answered; what it holds is wrong, and err says what to do
	case !ok:
		return hint.Wrap(fmt.Errorf("%s: %s: %w", s.url, op, &redacted{err}),
			fmt.Sprintf("check that the store at %s is reachable (AWS_ENDPOINT_URL_S3, AWS_REGION, the network); nothing was changed by this request", s.endpoint))
	case status == http.StatusForbidden || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied":
		return &AccessError{URL: s.url, Op: op, Status: status, Code: code, Msg: msg}
	case code == "NoSuchBucket":
		return hint.New(fmt.Sprintf("%s: %s: bucket %q does not exist at %s (%d %s)", s.url, op, s.bucket, s.endpoint, status, code),
			"create the bucket, or fix the bucket in --state, DESKSYNC_STATE or the manifest's state:")
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return fmt.Errorf("%s: %s: %d %s: %s", s.url, op, status, code, msg)
}

// UnmergedError reports journal objects holding steps that the state object does not
// include: another writer replaced the state while a run was recording them. They name
// Desk files that no record may hold any more, so they are neither dropped nor applied
// blindly.
type UnmergedError struct {
	URL     string   // s3://BUCKET/KEY
	Objects []string // the journal objects
	Serial  int64    // the state object's serial
}

func (e *UnmergedError) Error() string {
	return fmt.Sprintf("%s (serial %d) was replaced by another writer while a run was recording steps; they are in %s and not in the state",
		e.URL, e.Serial, strings.Join(e.Objects, ", "))
}

// Hint tells the user how to resolve it.
func (e *UnmergedError) Hint() string {
	return "each line of those objects is one step (an upload activated, a file deposed, ...); bring the Desk files they name back under the state (desksync import, or delete them on Desk), then delete the objects"
}

// redacted is an SDK error whose text shows every URL in it without userinfo, query or
// fragment: the SDK quotes the endpoint and request URLs whole, and an endpoint may carry a
// credential there (a pre-signed X-Amz-Security-Token, a password).
type redacted struct{ err error }

func (r *redacted) Error() string { return redactURLs(r.err.Error()) }
func (r *redacted) Unwrap() error { return r.err }

// urlPattern finds URLs in free text, ending at a space or a quoting character.
var urlPattern = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'`<>]+")

// redactURLs is s with each URL's userinfo, query and fragment removed.
func redactURLs(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		scheme, rest, _ := strings.Cut(u, "://")
		host, path, slash := strings.Cut(rest, "/")
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
		if slash {
			return scheme + "://" + host + "/" + path
		}
		return scheme + "://" + host
	})
}
