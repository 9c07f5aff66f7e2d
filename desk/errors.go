package desk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/desksync/desksync/internal/quote"
)

// maxMessage caps the length of a server message kept in an error, so that a hostile
// or broken server cannot flood the terminal or a CI log through us.
const maxMessage = 400

// APIError is a failed exchange with Desk or S3: either an HTTP answer outside 2xx
// (Status set, Code/Message decoded from the body) or no answer at all (Status 0, Err
// set: a network error, a timeout, a refused redirect).
type APIError struct {
	Op      string // what we were doing, e.g. `create ref for "logo.png"`
	Method  string
	URL     string // query secrets redacted
	Status  int    // 0 when no HTTP answer arrived
	Code    string // S3's <Code> or Desk's error code, when given
	Message string // the server's own explanation, cleaned and capped

	// Err is the transport error when Status is 0; with a 429, why desksync did not
	// wait it out.
	Err error
	// Attempts is how many times the request was sent when the retry layer gave up on
	// an error worth retrying; 0 when it was not retried.
	Attempts int

	offsite bool // the host is one Desk named (S3, a download), not the site
}

func (e *APIError) Error() string { return "desk: " + e.Op + ": " + e.Cause() }

// Cause is the error without the request it happened to (Op): what a caller that
// names the request in its own words, like apply's failure list, shows.
func (e *APIError) Cause() string {
	var b strings.Builder
	switch {
	case e.Status == 0 && e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Status == 0:
		b.WriteString("no answer")
	default:
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
		switch {
		case e.Code != "" && e.Message != "":
			fmt.Fprintf(&b, ": %s: %s", e.Code, e.Message)
		case e.Code != "":
			fmt.Fprintf(&b, ": %s", e.Code)
		case e.Message != "":
			fmt.Fprintf(&b, ": %s", e.Message)
		}
		if e.Err != nil {
			fmt.Fprintf(&b, "; %v", e.Err)
		}
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns Err, so errors.Is(err, context.Canceled) works.
func (e *APIError) Unwrap() error { return e.Err }

// Retryable reports whether trying the same request again may succeed: network errors
// and timeouts, 5xx, 429, and S3's RequestTimeout. Validation errors (other 4xx),
// refused redirects, TLS verification failures and cancellation are final.
func (e *APIError) Retryable() bool {
	var re *redirectError
	var ad *addressError
	var lw *longWaitError
	switch {
	case errors.As(e.Err, &lw):
		return false
	case e.Status != 0:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Code == "RequestTimeout"
	case e.Err == nil || errors.Is(e.Err, context.Canceled) || certError(e.Err) ||
		errors.As(e.Err, &re) || errors.As(e.Err, &ad):
		return false
	}
	return true
}

func certError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}

// host is the host of e.URL, for hints.
func (e *APIError) host() string {
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return "the server"
}

// Hint says what the user can do about the error, or "" when there is nothing useful to add.
func (e *APIError) Hint() string {
	var re *redirectError
	var ad *addressError
	var lw *longWaitError
	switch {
	case errors.As(e.Err, &lw):
		return "run desksync again once Desk's rate limit has reset; another client may be using the same key"
	case e.Status != 0:
	case errors.As(e.Err, &re):
		return "the server redirected to another host; check DESK_URL points at the site itself (https://yoursite.teamwork.com)"
	case errors.As(e.Err, &ad):
		return "Desk's answer pointed into a private network, which desksync never enters; check that DESK_URL is your real Desk site"
	case errors.Is(e.Err, context.Canceled):
		return ""
	case certError(e.Err) && e.offsite:
		return fmt.Sprintf("the TLS certificate of %s, the host Desk sent this file to or from, did not verify; if a proxy inspects TLS, add its CA with SSL_CERT_FILE", e.host())
	case certError(e.Err):
		return fmt.Sprintf("the TLS certificate of %s did not verify; check DESK_URL, or if a proxy inspects TLS, add its CA with SSL_CERT_FILE", e.host())
	case e.offsite:
		return fmt.Sprintf("check the network path to %s, the host Desk sent this file to or from; run with --debug to see each request", e.host())
	default:
		return "check DESK_URL and the network; run with --debug to see each request"
	}
	switch {
	case isPolicyExpired(e):
		return "the presigned upload policy ran out before the upload finished; run apply again to get a fresh one"
	case e.Status == http.StatusUnauthorized:
		return "check DESK_API_KEY (or --api-key): Desk did not accept it"
	case e.Status == http.StatusForbidden && e.Code == "":
		return "the API key's user may lack permission for files; check the key's user in Desk"
	case e.Status == http.StatusNotFound:
		return "the file no longer exists on Desk (deleted remotely?); desksync refresh records that in state"
	case e.Status == http.StatusTooManyRequests:
		return "Desk kept rate-limiting; lower --parallelism or try again later"
	case e.Code == "EntityTooLarge" || e.Status == http.StatusRequestEntityTooLarge:
		return "the file is larger than Desk allows for this type"
	case e.Status >= 500:
		return "the server failed; desksync retried with backoff; try again later"
	}
	return ""
}

// IsNotFound reports whether err is a 404 from Desk, e.g. deleting a file that is
// already gone.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsPolicyExpired reports whether err is S3 refusing an upload because the presigned
// POST policy expired ("Invalid according to Policy: Policy expired."); the cure is a
// fresh ref, not a retry of the same one.
func IsPolicyExpired(err error) bool {
	var e *APIError
	return errors.As(err, &e) && isPolicyExpired(e)
}

func isPolicyExpired(e *APIError) bool {
	return e.Status == http.StatusForbidden && e.Code == "AccessDenied" &&
		strings.Contains(strings.ToLower(e.Message), "policy expired")
}

// AuthError is Desk refusing the API key: a 401 or 403 answer to a Desk API call
// (not to an S3 upload). The first one stops the Client: every later call fails at
// once with an AuthError and sends nothing, so a wrong key costs one refused request
// per call in flight, not one per file.
type AuthError struct {
	Op string
	// Err is Desk's answer: this call's own, or when NotSent, the one that stopped
	// the Client.
	Err     *APIError
	NotSent bool
}

func (e *AuthError) Error() string { return "desk: " + e.Op + ": " + e.Cause() }

// Cause is the error without the request it happened to; see APIError.Cause.
func (e *AuthError) Cause() string {
	if e.NotSent {
		return "not sent: Desk refused the API key (" + e.Err.Cause() + ")"
	}
	return e.Err.Cause()
}

func (e *AuthError) Unwrap() error { return e.Err }

// Hint says what to check.
func (e *AuthError) Hint() string {
	if e.Err.Status == http.StatusForbidden {
		return "check DESK_API_KEY (or --api-key): Desk refused it access to files; the key's user needs permission to manage them"
	}
	return "check DESK_API_KEY (or --api-key): Desk did not accept it"
}

// IsAuth reports whether err is Desk refusing the API key (an *AuthError): nothing
// more will succeed with this Client.
func IsAuth(err error) bool {
	var e *AuthError
	return errors.As(err, &e)
}

// ResponseError is an answer that arrived but cannot be trusted or used: a malformed
// or oversize body, a ref whose upload URL or params are unsafe, an ETag that does
// not match what was sent. It is never retried.
type ResponseError struct {
	Op  string
	URL string // query secrets redacted
	Msg string
	// Orphan is the id of a temp file Desk created with a ref desksync refused and
	// could not delete; 0 when there is none.
	Orphan int64
}

func (e *ResponseError) Error() string { return "desk: " + e.Op + ": " + e.Cause() }

// Cause is the error without the request it happened to; see APIError.Cause.
func (e *ResponseError) Cause() string {
	return fmt.Sprintf("unusable answer from %s: %s", e.URL, e.Msg)
}

// Hint points at the likely culprit: the server, or something between us and it.
func (e *ResponseError) Hint() string {
	h := "Desk (or a proxy in between) sent something desksync refuses to trust; run with --debug to see the exchange"
	if e.Orphan != 0 {
		h += fmt.Sprintf("; then delete Desk file %d, a temp file left by the refused answer", e.Orphan)
	}
	return h
}

// TooLargeError is an upload refused before it starts because the ref said Desk
// takes files of this type only up to Max bytes (File.TypeMaxSize): sending it would
// only earn S3's EntityTooLarge after the whole file went over the wire.
type TooLargeError struct {
	Op   string
	Type string
	Size int64
	Max  int64
}

func (e *TooLargeError) Error() string { return "desk: " + e.Op + ": " + e.Cause() }

// Cause is the error without the request it happened to; see APIError.Cause.
func (e *TooLargeError) Cause() string {
	return fmt.Sprintf("the file is %d bytes, more than the %d bytes Desk allows for type %q", e.Size, e.Max, e.Type)
}

// Hint says what to do about it.
func (e *TooLargeError) Hint() string {
	return "make the file smaller, or give it a type that allows larger files (the manifest's type:), or remove it from the manifest"
}

// ConfigError is a Config that New refuses.
type ConfigError struct {
	Msg  string
	hint string
}

func (e *ConfigError) Error() string { return "desk: " + e.Msg }

// Hint says how to fix the configuration.
func (e *ConfigError) Hint() string { return e.hint }

// redirectError is CheckRedirect refusing to carry credentials to another host.
type redirectError struct{ from, to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("refusing to follow a redirect from %s to another host (%s) with the API key", e.from, e.to)
}

// clean makes server-provided text safe to print: valid UTF-8, no control characters
// (a CR/LF could forge log lines), runs of space collapsed, capped at maxMessage bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if (quote.Unsafe(r) && r != utf8.RuneError) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > maxMessage {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// s3Error is S3's XML error document: <Error><Code>…</Code><Message>…</Message></Error>.
type s3Error struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
}

// decodeS3Error extracts S3's Code and Message from an error body, with secrets
// removed by scrub (nil for none); ok is false when the body is not S3's error document.
func decodeS3Error(body []byte, scrub func(string) string) (code, msg string, ok bool) {
	var e s3Error
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	if err := d.Decode(&e); err != nil {
		return "", "", false
	}
	return cleanScrubbed(e.Code, scrub), cleanScrubbed(e.Message, scrub), true
}

// cleanScrubbed removes secrets before clean caps the text: capping first could cut a
// secret in two and leave its first half, which no later scrub would recognise.
// (Scrubbing the raw body is not enough: JSON \u escapes and XML entities can spell a
// secret that only appears once decoded.)
func cleanScrubbed(s string, scrub func(string) string) string {
	if scrub == nil {
		return clean(s)
	}
	return scrub(clean(scrub(s)))
}

// decodeErrorBody turns an error answer into (code, message), tolerating the shapes
// Desk and S3 use: S3's XML <Error>, JSON {"errors":[{…}]}, {"errors":{"field":[…]}},
// {"message":…}, {"error":…}, or plain text. HTML error pages (from a proxy) are
// reduced to nothing; the status line says enough. scrub (nil for none) removes
// secrets before any text is capped.
func decodeErrorBody(body []byte, scrub func(string) string) (code, msg string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return "", ""
	}
	if trimmed[0] == '<' {
		if code, msg, ok := decodeS3Error(trimmed, scrub); ok {
			return code, msg
		}
		return "", ""
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		var v any
		d := json.NewDecoder(bytes.NewReader(trimmed))
		d.UseNumber()
		if d.Decode(&v) == nil {
			code, msgs := jsonMessages(v)
			if len(msgs) > 0 || code != "" {
				return cleanScrubbed(code, scrub), cleanScrubbed(strings.Join(msgs, "; "), scrub)
			}
		}
	}
	return "", cleanScrubbed(string(trimmed), scrub)
}

// jsonMessages collects human-readable messages from a decoded JSON error document.
func jsonMessages(v any) (code string, msgs []string) {
	switch v := v.(type) {
	case string:
		return "", []string{v}
	case []any:
		for _, item := range v {
			_, m := jsonMessages(item)
			msgs = append(msgs, m...)
		}
		return "", msgs
	case map[string]any:
		code = firstString(v, "code", "errorCode")
		for _, k := range []string{"errors", "validation", "validationErrors", "details"} {
			switch inner := v[k].(type) {
			case []any:
				for _, item := range inner {
					if m, ok := item.(map[string]any); ok {
						if s := fieldMessage(m); s != "" {
							msgs = append(msgs, s)
						}
						continue
					}
					_, m := jsonMessages(item)
					msgs = append(msgs, m...)
				}
			case map[string]any:
				if s := fieldMessage(inner); s != "" && firstString(inner, "message", "detail", "title") != "" {
					msgs = append(msgs, s)
					continue
				}
				keys := make([]string, 0, len(inner))
				for key := range inner {
					keys = append(keys, key)
				}
				sort.Strings(keys)
				for _, key := range keys {
					_, m := jsonMessages(inner[key])
					if len(m) > 0 {
						msgs = append(msgs, key+": "+strings.Join(m, ", "))
					}
				}
			case string:
				msgs = append(msgs, inner)
			}
		}
		if len(msgs) == 0 {
			if s := fieldMessage(v); s != "" {
				msgs = append(msgs, s)
			} else if e, ok := v["error"].(map[string]any); ok {
				c, m := jsonMessages(e)
				if code == "" {
					code = c
				}
				msgs = append(msgs, m...)
			}
		}
		return code, msgs
	}
	return "", nil
}

// fieldMessage renders one error object as "field: message" (or just the message).
func fieldMessage(m map[string]any) string {
	text := firstString(m, "message", "detail", "title", "description", "error", "msg", "reason")
	if text == "" {
		return ""
	}
	field := firstString(m, "field", "param", "parameter", "attribute", "name", "key")
	if field == "" {
		if src, ok := m["source"].(map[string]any); ok {
			field = firstString(src, "pointer", "parameter", "field")
		}
	}
	if field != "" && !strings.HasPrefix(text, field) {
		return field + ": " + text
	}
	return text
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		switch s := m[k].(type) {
		case string:
			if s != "" {
				return s
			}
		case json.Number:
			return s.String()
		}
	}
	return ""
}
