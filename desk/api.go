package desk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/desksync/desksync/internal/quote"
)

// Limits on a ref's params: Desk sends about nine, the policy being the largest at a
// few KiB. Anything far beyond is not an S3 POST form we should replay.
const (
	maxParams      = 64
	maxParamName   = 256
	maxParamValue  = 16 << 10
	maxParamsTotal = 64 << 10
)

// CreateRef asks Desk for an upload authorization (step 1 of 3): POST
// /desk/api/v2/files/ref.json. The answer is checked before it is trusted: the
// upload URL must be absolute and https (or http on loopback), the params free of
// control characters and of the API key, within size limits, and not named "file".
// When the answer is refused after Desk created the temp file, that file is deleted
// (best effort) and the error says so.
func (c *Client) CreateRef(ctx context.Context, r RefRequest) (*Ref, error) {
	op := fmt.Sprintf("create ref for %q", r.Filename)
	var ref *Ref
	var tempID int64
	err := c.callDesk(ctx, deskRequest{
		op: op, method: http.MethodPost, url: c.api + "/files/ref.json", in: r,
		decode: func(body []byte) error {
			var err error
			ref, err = decodeRef(body)
			if ref != nil {
				tempID = ref.File.ID
			}
			if err == nil && c.carriesKey(ref) {
				err = errors.New("the ref carries the API key, which must never reach S3")
			}
			if err != nil {
				return err
			}
			c.scrubFile(&ref.File)
			return nil
		},
	})
	var re *ResponseError
	if err == nil || tempID == 0 || !errors.As(err, &re) {
		return ref, err
	}
	if derr := c.DeleteFile(ctx, tempID); derr != nil && !IsNotFound(derr) {
		re.Orphan = tempID
		re.Msg += fmt.Sprintf("; deleting the temp file %d Desk created failed too: %s", tempID, Cause(derr))
	} else {
		re.Msg += fmt.Sprintf("; desksync deleted the temp file %d Desk created", tempID)
	}
	return nil, err
}

// carriesKey reports whether Desk put the API key into a ref's upload URL or params.
func (c *Client) carriesKey(ref *Ref) bool {
	if len(c.key) < minScrubbed {
		return false
	}
	has := strings.Contains(ref.URL, c.key)
	for _, p := range ref.Params {
		has = has || strings.Contains(p.Value, c.key) || strings.Contains(p.Name, c.key)
	}
	return has
}

// scrubFile removes the API key from every string of a file record, so that no
// caller stores or shows what a server echoed.
func (c *Client) scrubFile(f *File) {
	for _, s := range []*string{&f.Filename, &f.MimeType, &f.Disposition, &f.Type, &f.State, &f.DownloadURL} {
		*s = c.scrub(*s)
	}
}

// Cause is err's text without the request a Desk error names (its Op), for callers
// that name the request in their own words.
func Cause(err error) string {
	if c, ok := err.(interface{ Cause() string }); ok {
		return c.Cause()
	}
	return err.Error()
}

// UpdateFile changes a file (step 3 of an upload: State "active"; also filename or
// disposition changes): PATCH /desk/api/v2/files/{id}.json with {"file":{…}}.
func (c *Client) UpdateFile(ctx context.Context, id int64, u FileUpdate) (*File, error) {
	return c.fileCall(ctx, fmt.Sprintf("update file %d", id), http.MethodPatch, id, struct {
		File FileUpdate `json:"file"`
	}{u})
}

// GetFile reads a file's record, including its downloadURL.
func (c *Client) GetFile(ctx context.Context, id int64) (*File, error) {
	return c.fileCall(ctx, fmt.Sprintf("get file %d", id), http.MethodGet, id, nil)
}

// DeleteFile deletes a file. A 404 is returned as an *APIError; callers that treat
// "already gone" as success check IsNotFound.
func (c *Client) DeleteFile(ctx context.Context, id int64) error {
	return c.callDesk(ctx, deskRequest{
		op: fmt.Sprintf("delete file %d", id), method: http.MethodDelete, url: c.fileURL(id),
	})
}

func (c *Client) fileURL(id int64) string {
	return c.api + "/files/" + strconv.FormatInt(id, 10) + ".json"
}

func (c *Client) fileCall(ctx context.Context, op, method string, id int64, in any) (*File, error) {
	var f *File
	err := c.callDesk(ctx, deskRequest{
		op: op, method: method, url: c.fileURL(id), in: in,
		decode: func(body []byte) error {
			var w struct {
				File *File `json:"file"`
			}
			if err := json.Unmarshal(body, &w); err != nil {
				return fmt.Errorf("decoding the file record: %w", err)
			}
			if w.File == nil {
				return errors.New(`the answer has no "file" object`)
			}
			f = w.File
			c.scrubFile(f)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Download fetches a file's content from its downloadURL (as GetFile returned it;
// relative URLs are resolved against the site). The API key is sent only when the
// URL is on the site's own host; other hosts must be public (see Config.Resolver).
// Bodies over max bytes are refused, not truncated.
func (c *Client) Download(ctx context.Context, rawURL string, max int64) ([]byte, error) {
	op := fmt.Sprintf("download %q", redactURL(rawURL))
	if max <= 0 {
		return nil, fmt.Errorf("desk: %s: the size limit must be positive, not %d", op, max)
	}
	u, err := c.site.Parse(rawURL)
	if err != nil {
		return nil, &ResponseError{Op: op, URL: redactURL(rawURL), Msg: "the download URL does not parse"}
	}
	if msg := checkURL(u); msg != "" {
		return nil, &ResponseError{Op: op, URL: redactURL(u.String()), Msg: "download URL " + msg}
	}
	own := u.Scheme == c.site.Scheme && u.Host == c.site.Host
	kind, hc := offsiteCall, c.offsite
	if own {
		kind, hc = siteCall, c.hc
	}
	var data []byte
	err = c.retry(ctx, op, kind, func(ctx context.Context) (int, http.Header, error) {
		return c.exchange(ctx, hc, exchange{
			op: op, method: http.MethodGet, url: u.String(), auth: own, max: max,
			tooBig: fmt.Sprintf("the file is larger than the %d-byte limit for downloads", max),
			decode: func(body []byte) error { data = body; return nil },
		})
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// checkURL returns why u may not be used for an upload or download, or "".
func checkURL(u *url.URL) string {
	switch {
	case !u.IsAbs() || u.Host == "":
		return "is not absolute"
	case u.User != nil:
		return "carries a user or password"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return fmt.Sprintf("uses plain http on a non-loopback host (%s)", u.Host)
	}
	return fmt.Sprintf("has scheme %q, not https", u.Scheme)
}

// decodeRef decodes and checks the answer to a ref request. The file's id is read
// first, so that a refused answer still names the temp file to clean up: on error
// the returned Ref, when not nil, holds only File.ID. params keeps Desk's order (the
// S3 form replays it verbatim), so it is read token by token rather than into a map.
func decodeRef(body []byte) (*Ref, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("decoding the ref: %w", err)
	}
	rawFile, ok := top["file"]
	if !ok || string(rawFile) == "null" {
		return nil, errors.New(`the ref has no "file"`)
	}
	var idOnly struct {
		ID json.Number `json:"id"`
	}
	if err := json.Unmarshal(rawFile, &idOnly); err != nil {
		return nil, fmt.Errorf(`ref "file": %w`, err)
	}
	id, err := wholeNumber("id", idOnly.ID)
	if err != nil {
		return nil, fmt.Errorf(`ref "file": %w`, err)
	}
	if id <= 0 {
		return nil, fmt.Errorf(`ref "file" has no valid id (%d)`, id)
	}
	ref, partial := &Ref{}, &Ref{File: File{ID: id}}
	if err := json.Unmarshal(rawFile, &ref.File); err != nil {
		return partial, fmt.Errorf(`ref "file": %w`, err)
	}
	rawURL, ok := top["url"]
	if !ok {
		return partial, errors.New(`the ref has no "url"`)
	}
	if err := json.Unmarshal(rawURL, &ref.URL); err != nil {
		return partial, fmt.Errorf(`ref "url": %w`, err)
	}
	u, err := url.Parse(ref.URL)
	if err != nil {
		return partial, fmt.Errorf(`ref "url" %q does not parse`, redactURL(ref.URL))
	}
	if msg := checkURL(u); msg != "" {
		return partial, fmt.Errorf(`ref "url" %q %s`, redactURL(ref.URL), msg)
	}
	rawParams, ok := top["params"]
	if !ok {
		return partial, errors.New(`the ref has no "params"`)
	}
	if ref.Params, err = decodeParams(rawParams); err != nil {
		return partial, err
	}
	return ref, nil
}

// decodeParams reads a JSON object of string values in order, refusing anything that
// would not replay safely as multipart form fields.
func decodeParams(raw json.RawMessage) ([]Param, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, fmt.Errorf(`ref "params": %w`, err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, errors.New(`ref "params" is not an object`)
	}
	var params []Param
	seen := map[string]bool{}
	total := 0
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf(`ref "params": %w`, err)
		}
		name, _ := tok.(string)
		if tok, err = d.Token(); err != nil {
			return nil, fmt.Errorf(`ref "params" %q: %w`, clean(name), err)
		}
		var value string
		switch v := tok.(type) {
		case string:
			value = v
		case json.Number:
			value = v.String()
		default:
			return nil, fmt.Errorf(`ref "params" %q: the value is not a string`, clean(name))
		}
		if err := checkParam(name, value, seen); err != nil {
			return nil, err
		}
		total += len(name) + len(value)
		if len(params) >= maxParams || total > maxParamsTotal {
			return nil, fmt.Errorf(`ref "params": more than %d params or %d bytes`, maxParams, maxParamsTotal)
		}
		params = append(params, Param{Name: name, Value: value})
	}
	if _, err := d.Token(); err != nil {
		return nil, fmt.Errorf(`ref "params": %w`, err)
	}
	return params, nil
}

// checkParam refuses a param that could break or subvert the multipart form: an
// empty, duplicate or oversize name or value, control characters (a CR/LF could
// inject part headers), or the name "file", which must be the file itself, last.
func checkParam(name, value string, seen map[string]bool) error {
	switch {
	case name == "":
		return errors.New(`ref "params": a param has an empty name`)
	case len(name) > maxParamName:
		return fmt.Errorf(`ref "params": a param name is longer than %d bytes`, maxParamName)
	case quote.HasControl(name):
		return fmt.Errorf(`ref "params" %q: the name contains control characters`, clean(name))
	case strings.EqualFold(name, "file"):
		return errors.New(`ref "params": a param is named "file", which is reserved for the upload itself`)
	case seen[strings.ToLower(name)]:
		return fmt.Errorf(`ref "params" %q: the name appears twice`, clean(name))
	case len(value) > maxParamValue:
		return fmt.Errorf(`ref "params" %q: the value is longer than %d bytes`, clean(name), maxParamValue)
	case quote.HasControl(value):
		return fmt.Errorf(`ref "params" %q: the value contains control characters`, clean(name))
	}
	seen[strings.ToLower(name)] = true
	return nil
}

// UnmarshalJSON accepts the shapes Desk's documentation shows for a file: the name
// as "filename" or "fileName", and "type" as a string or as an object {"Name",
// "MaxSize", …}. Timestamps that do not parse are left zero rather than failing a
// whole upload over a cosmetic field.
func (f *File) UnmarshalJSON(b []byte) error {
	var w struct {
		ID          json.Number     `json:"id"`
		Filename    *string         `json:"filename"`
		FileName    *string         `json:"fileName"`
		MimeType    string          `json:"mimeType"`
		Disposition string          `json:"disposition"`
		Type        json.RawMessage `json:"type"`
		Size        json.Number     `json:"size"`
		State       string          `json:"state"`
		DownloadURL string          `json:"downloadURL"`
		CreatedAt   json.RawMessage `json:"createdAt"`
		UpdatedAt   json.RawMessage `json:"updatedAt"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var out File
	var err error
	if out.ID, err = wholeNumber("id", w.ID); err != nil {
		return err
	}
	if out.Size, err = wholeNumber("size", w.Size); err != nil {
		return err
	}
	switch {
	case w.Filename != nil && *w.Filename != "":
		out.Filename = *w.Filename
	case w.FileName != nil:
		out.Filename = *w.FileName
	}
	out.MimeType, out.Disposition, out.State, out.DownloadURL = w.MimeType, w.Disposition, w.State, w.DownloadURL
	if out.Type, out.TypeMaxSize, err = decodeFileType(w.Type); err != nil {
		return err
	}
	out.CreatedAt = parseTime(w.CreatedAt)
	out.UpdatedAt = parseTime(w.UpdatedAt)
	*f = out
	return nil
}

func wholeNumber(field string, n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("file %s %s is not a whole number", field, clean(string(n)))
	}
	return v, nil
}

func decodeFileType(raw json.RawMessage) (name string, maxSize int64, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", 0, nil
	}
	if raw[0] == '"' {
		err = json.Unmarshal(raw, &name)
		return name, 0, err
	}
	var obj struct {
		Name    string      `json:"Name"`
		MaxSize json.Number `json:"MaxSize"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", 0, fmt.Errorf("file type: %w", err)
	}
	if maxSize, err = wholeNumber("type MaxSize", obj.MaxSize); err != nil {
		return "", 0, err
	}
	return obj.Name, maxSize, nil
}

func parseTime(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// jsonMarshal encodes without HTML escaping, so a filename like "a&b.png" reaches
// Desk as written.
func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
