package desk

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/desksync/desksync/internal/quote"
)

// Upload sends the file to S3 (step 2 of 3): a multipart/form-data POST to ref.URL
// with every ref param verbatim and in Desk's order, then the file as the last
// field, named "file", with the given filename and the Content-Type param's value.
//
// The body is streamed from body (through an io.SectionReader and an io.Pipe), so
// memory does not grow with size, and its MD5 is computed on the way; when S3's
// ETag is a 32-hex MD5 it must match, or the upload failed. The request carries an
// exact Content-Length and never the Desk API key. A retry re-reads body from
// offset 0.
//
// progress, if not nil, is called with the number of file bytes sent so far in the
// current attempt (it starts again from 0 when an attempt is retried). It is called
// from another goroutine, but never concurrently with itself.
//
// Instead of a total deadline, an upload fails when no bytes move for Config.Timeout,
// so a large file on a slow link is not cut off.
func (c *Client) Upload(ctx context.Context, ref *Ref, body io.ReaderAt, size int64, filename string, progress func(n int64)) error {
	op := fmt.Sprintf("upload %q", filename)
	if ref == nil {
		return fmt.Errorf("desk: %s: no ref given", op)
	}
	switch {
	case size < 0:
		return fmt.Errorf("desk: %s: negative size %d", op, size)
	case filename == "" || quote.HasControl(filename):
		return fmt.Errorf("desk: %s: the filename is empty or contains control characters", op)
	}
	if max := ref.File.TypeMaxSize; max > 0 && size > max {
		return &TooLargeError{Op: op, Type: ref.File.Type, Size: size, Max: max}
	}
	u, err := url.Parse(ref.URL)
	if err != nil {
		return &ResponseError{Op: op, URL: redactURL(ref.URL), Msg: "the upload URL does not parse"}
	}
	if msg := checkURL(u); msg != "" {
		return &ResponseError{Op: op, URL: redactURL(ref.URL), Msg: "upload URL " + msg}
	}
	f := &form{params: ref.Params, filename: filename, contentType: "application/octet-stream",
		boundary: multipart.NewWriter(io.Discard).Boundary()}
	var secrets []string // never echo the policy or signature, even in S3's error text
	seen := map[string]bool{}
	for _, p := range ref.Params {
		if err := checkParam(p.Name, p.Value, seen); err != nil {
			return &ResponseError{Op: op, URL: redactURL(ref.URL), Msg: err.Error()}
		}
		switch n := strings.ToLower(p.Name); {
		case n == "content-type":
			f.contentType = p.Value
		case n == "policy" || strings.Contains(n, "signature") || strings.Contains(n, "credential") || strings.Contains(n, "token"):
			secrets = append(secrets, p.Value)
		}
	}
	overhead, err := f.overhead()
	if err != nil {
		return fmt.Errorf("desk: %s: %w", op, err)
	}
	up := upload{c: c, op: op, url: ref.URL, form: f, body: body, size: size,
		length: overhead + size, progress: progress, secrets: secrets}
	err = c.retry(ctx, op, offsiteCall, up.attempt)
	if err == nil {
		c.counts.Uploads.Add(1)
	}
	return err
}

// form is the multipart body minus the file bytes.
type form struct {
	params      []Param
	filename    string
	contentType string
	boundary    string
}

// write writes the whole form to w, taking the file's bytes from file.
func (f *form) write(w io.Writer, file io.Reader) (int64, error) {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(f.boundary); err != nil {
		return 0, err
	}
	for _, p := range f.params {
		if err := mw.WriteField(p.Name, p.Value); err != nil {
			return 0, err
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", multipart.FileContentDisposition("file", f.filename))
	h.Set("Content-Type", f.contentType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(part, file)
	if err != nil {
		return n, err
	}
	return n, mw.Close()
}

// overhead is the size of the form around the file's bytes, found by writing the
// form with an empty file: the framing does not depend on the content.
func (f *form) overhead() (int64, error) {
	var cw countWriter
	if _, err := f.write(&cw, strings.NewReader("")); err != nil {
		return 0, err
	}
	return int64(cw), nil
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

// upload is one Upload call; attempt is run by the retry layer.
type upload struct {
	c        *Client
	op, url  string
	form     *form
	body     io.ReaderAt
	size     int64
	length   int64
	progress func(int64)
	secrets  []string
}

// stallError is the cause given when no bytes moved for the timeout.
type stallError struct{ d time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("the upload stalled: no bytes moved for %v", e.d)
}

func (u *upload) attempt(ctx context.Context) (int, http.Header, error) {
	c := u.c
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(c.timeout, func() { cancel(&stallError{d: c.timeout}) })
	defer stall.Stop()

	pr, pw := io.Pipe()
	sum := md5.New()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		file := &fileReader{r: io.NewSectionReader(u.body, 0, u.size), sum: sum, stall: stall,
			timeout: c.timeout, progress: u.progress}
		// Buffered, because every multipart field is a separate small Write and
		// each would otherwise reach the socket as its own segment.
		bw := bufio.NewWriterSize(pw, 64<<10)
		n, err := u.form.write(bw, file)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- result{n, err}
	}()

	sent := &countReader{r: pr}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.url, sent)
	if err != nil {
		pr.Close()
		<-done
		return 0, nil, &ResponseError{Op: u.op, URL: redactURL(u.url), Msg: c.scrub(err.Error(), u.secrets...)}
	}
	req.ContentLength = u.length
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+u.form.boundary)
	req.Header.Set("User-Agent", userAgent)
	start := time.Now()
	resp, err := c.offsite.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		res := <-done
		if res.err != nil && !errors.Is(res.err, io.ErrClosedPipe) && !isPipeClosedBy(res.err, err) {
			// Reading the local file failed: that is ours to report, and not worth a retry.
			c.logf(http.MethodPost, u.url, 0, res.err, start, sent.n.Load(), 0, u.secrets...)
			return 0, nil, fmt.Errorf("desk: %s: reading the local file: %w", u.op, res.err)
		}
		aerr := c.transportError(u.op, http.MethodPost, u.url, ctx, actx, err, true, u.secrets...)
		c.logf(http.MethodPost, u.url, 0, aerr, start, sent.n.Load(), 0, u.secrets...)
		return 0, nil, aerr
	}
	defer resp.Body.Close()
	data, over, rerr := readCapped(resp.Body, maxXMLBody)
	pr.Close() // the server has answered; stop feeding it
	res := <-done
	c.logf(http.MethodPost, u.url, resp.StatusCode, rerr, start, sent.n.Load(), int64(len(data)), u.secrets...)
	stall.Stop()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if over {
			data = data[:len(data)/2] // the cut may split an echoed secret; see errorBody
		}
		code, msg := decodeErrorBody(data, c.scrubber(u.secrets...))
		return resp.StatusCode, resp.Header, &APIError{Op: u.op, Method: http.MethodPost, URL: redactURL(u.url),
			Status: resp.StatusCode, Code: code, Message: msg}
	}
	if rerr != nil {
		return resp.StatusCode, resp.Header, c.transportError(u.op, http.MethodPost, u.url, ctx, actx, rerr, true, u.secrets...)
	}
	if res.err != nil || res.n != u.size {
		return resp.StatusCode, resp.Header, &ResponseError{Op: u.op, URL: redactURL(u.url),
			Msg: fmt.Sprintf("S3 answered %d before receiving the whole file (%d of %d bytes sent)", resp.StatusCode, res.n, u.size)}
	}
	if over {
		return resp.StatusCode, resp.Header, &ResponseError{Op: u.op, URL: redactURL(u.url),
			Msg: fmt.Sprintf("the answer is larger than %d bytes", maxXMLBody)}
	}
	etag := resp.Header.Get("ETag")
	if pr, ok := decodePostResponse(data); ok && pr.ETag != "" {
		etag = pr.ETag
	}
	if err := checkETag(etag, sum); err != nil {
		return resp.StatusCode, resp.Header, &ResponseError{Op: u.op, URL: redactURL(u.url), Msg: err.Error()}
	}
	return resp.StatusCode, resp.Header, nil
}

// isPipeClosedBy reports whether the writer's error is just the echo of the
// transport's error through the pipe.
func isPipeClosedBy(werr, terr error) bool {
	return werr == terr || errors.Is(werr, terr) || strings.Contains(werr.Error(), terr.Error())
}

// checkETag compares S3's ETag with the MD5 of the bytes sent. An ETag that is not a
// plain 32-hex MD5 (multipart uploads, KMS encryption) cannot be checked and passes.
func checkETag(etag string, sum hash.Hash) error {
	etag = strings.Trim(strings.TrimSpace(etag), `"`)
	if len(etag) != 32 {
		return nil
	}
	if _, err := hex.DecodeString(etag); err != nil {
		return nil
	}
	if want := hex.EncodeToString(sum.Sum(nil)); !strings.EqualFold(etag, want) {
		return fmt.Errorf("S3 stored ETag %s but the MD5 of the bytes sent is %s: the file was corrupted on the way", clean(etag), want)
	}
	return nil
}

// postResponse is S3's answer to a successful POST with success_action_status 201.
type postResponse struct {
	XMLName xml.Name `xml:"PostResponse"`
	ETag    string   `xml:"ETag"`
}

func decodePostResponse(data []byte) (postResponse, bool) {
	var p postResponse
	if err := xml.Unmarshal(data, &p); err != nil {
		return postResponse{}, false
	}
	return p, true
}

// countReader counts the bytes the transport took, for the --debug line.
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// fileReader feeds the file into the form: it hashes, reports progress and holds
// off the stall timer while bytes move.
type fileReader struct {
	r        io.Reader
	sum      hash.Hash
	stall    *time.Timer
	timeout  time.Duration
	progress func(int64)
	n        int64
}

func (f *fileReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 {
		f.sum.Write(p[:n])
		f.n += int64(n)
		f.stall.Reset(f.timeout)
		if f.progress != nil {
			f.progress(f.n)
		}
	}
	return n, err
}
