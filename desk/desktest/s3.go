package desktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	// maxPreData is S3's cap on the form fields before the file.
	maxPreData = 20 << 10
)

// uploadParams builds the signed form fields of a ref, in the API documentation's order.
func (s *Server) uploadParams(secret, key, mimeType string, now time.Time) orderedParams {
	date := now.Format("20060102")
	credential := fmt.Sprintf("%s/%s/%s/s3/aws4_request", AccessKeyID, date, Region)
	amzDate := now.Format(amzDateFmt)
	policy := map[string]any{
		"expiration": now.Add(s.policyTTL).Format("2006-01-02T15:04:05.000Z"),
		"conditions": []any{
			map[string]string{"bucket": Bucket},
			[]any{"eq", "$key", key},
			map[string]string{"Content-Type": mimeType},
			map[string]string{"success_action_status": "201"},
			map[string]string{"x-amz-algorithm": sigAlgorithm},
			map[string]string{"x-amz-credential": credential},
			map[string]string{"x-amz-date": amzDate},
			[]any{"content-length-range", 0, s.maxUploadSize},
		},
	}
	pj, _ := json.Marshal(policy) // plain strings and numbers cannot fail
	p64 := base64.StdEncoding.EncodeToString(pj)
	return orderedParams{
		{"Content-Type", mimeType},
		{"bucket", Bucket},
		{"key", key},
		{"policy", p64},
		{"success_action_status", "201"},
		{"x-amz-algorithm", sigAlgorithm},
		{"x-amz-credential", credential},
		{"x-amz-date", amzDate},
		{"x-amz-signature", sigV4(secret, date, Region, "s3", p64)},
	}
}

// sigV4 signs a POST policy as AWS Signature Version 4 does: the signing key is
// HMAC-chained from the secret over date, region, service and "aws4_request", and the
// signature is the hex HMAC-SHA256 of the base64 policy under that key.
func sigV4(secret, date, region, service, policy string) string {
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, policy))
}

// s3Error is one of S3's XML errors; extra elements (ArgumentName, MaxSizeAllowed…)
// follow Message in order.
type s3Error struct {
	status int
	code   string
	msg    string
	extra  [][2]string
}

func writeS3Error(w http.ResponseWriter, r *http.Request, e *s3Error) {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	el := func(name, value string) {
		b.WriteString("<" + name + ">")
		_ = xml.EscapeText(&b, []byte(value)) // a strings.Builder cannot fail
		b.WriteString("</" + name + ">")
	}
	el("Code", e.code)
	el("Message", e.msg)
	for _, kv := range e.extra {
		el(kv[0], kv[1])
	}
	el("RequestId", "DESKTEST")
	el("HostId", r.Host)
	b.WriteString("</Error>")
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, b.String())
}

func invalidArgument(msg, name, value string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "InvalidArgument", msg: msg,
		extra: [][2]string{{"ArgumentName", name}, {"ArgumentValue", value}}}
}

func accessDenied(msg string) *s3Error {
	return &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: msg}
}

func missingField(name string) *s3Error {
	return invalidArgument(fmt.Sprintf("Bucket POST must contain a field named '%s'. If it is specified, please check the order of the fields.", name), name, "")
}

// formField is one form field before the file, in arrival order.
type formField struct{ name, value string }

type form []formField

// get finds a field by name; S3 matches form field names case-insensitively.
func (f form) get(name string) (string, bool) {
	for _, ff := range f {
		if strings.EqualFold(ff.name, name) {
			return ff.value, true
		}
	}
	return "", false
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, bucket string) {
	if e := s.upload(w, r, bucket); e != nil {
		writeS3Error(w, r, e)
	}
}

// upload runs S3's checks in S3's order, streams the file into the blob store and
// answers success itself; a returned error is still to be written.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, bucket string) *s3Error {
	if r.Header.Get("Authorization") != "" {
		// The value is not echoed: it would be the Desk API key the client leaked.
		return invalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", "Authorization", "")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return &s3Error{status: http.StatusPreconditionFailed, code: "PreconditionFailed",
			msg:   "At least one of the pre-conditions you specified did not hold",
			extra: [][2]string{{"Condition", "Bucket POST must be of the enclosure-type multipart/form-data"}}}
	}
	if bucket != Bucket {
		return &s3Error{status: http.StatusNotFound, code: "NoSuchBucket", msg: "The specified bucket does not exist",
			extra: [][2]string{{"BucketName", bucket}}}
	}

	// Fields before the file: small, read into memory under S3's 20 KiB cap.
	var fields form
	var file *multipart.Part
	pre := 0
	for file == nil {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return malformed(err)
		}
		name := part.FormName()
		if name == "file" {
			file = part
			break
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(maxPreData-pre+1)))
		if err != nil {
			return malformed(err)
		}
		pre += len(name) + len(v)
		if pre > maxPreData {
			return &s3Error{status: http.StatusBadRequest, code: "MaxPostPreDataLengthExceeded",
				msg:   "Your POST request fields preceding the upload file were too large.",
				extra: [][2]string{{"MaxPostPreDataLength", strconv.Itoa(maxPreData)}}}
		}
		if _, dup := fields.get(name); dup {
			return invalidArgument(fmt.Sprintf("POST form field '%s' appears more than once.", name), name, string(v))
		}
		fields = append(fields, formField{name, string(v)})
	}
	if file == nil {
		return invalidArgument("POST requires exactly one file upload per request.", "file", "0")
	}

	key, maxSize, minSize, id, e := s.checkPolicy(fields, bucket)
	if e != nil {
		return e
	}
	maxSize = min(maxSize, s.maxUploadSize)

	// Stream the file: hash and count while writing to the blob store, stopping as
	// soon as it is too large, so memory does not grow with the upload.
	bw, err := s.blobs.create(min(r.ContentLength, maxSize))
	if err != nil {
		return internalError(err)
	}
	committed := false
	defer func() {
		if !committed {
			bw.abort()
		}
	}()
	h := md5.New()
	buf := s.bufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(bw, h), io.LimitReader(file, maxSize+1), *buf)
	s.bufs.Put(buf)
	if err != nil {
		return malformed(err)
	}
	if n > maxSize {
		return &s3Error{status: http.StatusBadRequest, code: "EntityTooLarge",
			msg:   "Your proposed upload exceeds the maximum allowed size",
			extra: [][2]string{{"ProposedSize", strconv.FormatInt(n, 10)}, {"MaxSizeAllowed", strconv.FormatInt(maxSize, 10)}}}
	}
	if n < minSize {
		return &s3Error{status: http.StatusBadRequest, code: "EntityTooSmall",
			msg:   "Your proposed upload is smaller than the minimum allowed size",
			extra: [][2]string{{"ProposedSize", strconv.FormatInt(n, 10)}, {"MinSizeAllowed", strconv.FormatInt(minSize, 10)}}}
	}
	switch next, err := mr.NextRawPart(); {
	case err == nil:
		name := next.FormName()
		if name == "file" {
			return invalidArgument("POST requires exactly one file upload per request.", "file", "2")
		}
		return invalidArgument(fmt.Sprintf("Bucket POST must contain a field named '%s'. If it is specified, please check the order of the fields.", name), name, "")
	case !errors.Is(err, io.EOF):
		return malformed(err)
	}
	if err := bw.prepare(); err != nil {
		return internalError(err)
	}

	md5hex := hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	rec, ok := s.files[id]
	if !ok || rec.State != "temp" {
		s.mu.Unlock()
		return notPending(id, rec)
	}
	if err := bw.commit(id); err != nil {
		s.mu.Unlock()
		return internalError(err)
	}
	committed = true
	rec.Uploaded, rec.ObjectSize, rec.MD5 = true, n, md5hex
	err = s.persist(id)
	s.mu.Unlock()
	if err != nil {
		return internalError(err)
	}

	etag := `"` + md5hex + `"`
	loc := baseURL(r) + s3Prefix + bucket + "/" + escapeKey(key)
	w.Header().Set("ETag", etag)
	w.Header().Set("Location", loc)
	status, _ := fields.get("success_action_status")
	switch status {
	case "201":
		body, _ := xml.Marshal(postResponse{Location: loc, Bucket: bucket, Key: key, ETag: etag})
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, xml.Header)
		_, _ = w.Write(body)
	case "200":
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func malformed(err error) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "MalformedPOSTRequest",
		msg: "The body of your POST request is not well-formed multipart/form-data. (" + err.Error() + ")"}
}

func internalError(err error) *s3Error {
	return &s3Error{status: http.StatusInternalServerError, code: "InternalError",
		msg: "We encountered an internal error. Please try again. (" + err.Error() + ")"}
}

func notPending(id int64, rec *record) *s3Error {
	state := "purged"
	if rec != nil {
		state = rec.State
	}
	return accessDenied(fmt.Sprintf("Access Denied: Desk file %d for this key is %s, not temp; request a new ref", id, state))
}

// checkPolicy verifies the signature, the expiry and every condition of the policy
// against the fields, and finds the temp file the key belongs to.
func (s *Server) checkPolicy(fields form, bucket string) (key string, maxSize, minSize int64, id int64, e *s3Error) {
	minSize, maxSize = 0, s.maxUploadSize
	for _, name := range []string{"key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if _, ok := fields.get(name); !ok {
			return "", 0, 0, 0, missingField(name)
		}
	}
	key, _ = fields.get("key")
	p64, _ := fields.get("policy")
	alg, _ := fields.get("x-amz-algorithm")
	cred, _ := fields.get("x-amz-credential")
	sig, _ := fields.get("x-amz-signature")
	if alg != sigAlgorithm {
		return "", 0, 0, 0, invalidArgument("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"", "x-amz-algorithm", alg)
	}
	// Credential: AKID/yyyymmdd/region/service/aws4_request.
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || len(parts[1]) != 8 {
		return "", 0, 0, 0, invalidArgument("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", "x-amz-credential", cred)
	}
	if parts[0] != AccessKeyID {
		return "", 0, 0, 0, &s3Error{status: http.StatusForbidden, code: "InvalidAccessKeyId",
			msg:   "The AWS Access Key Id you provided does not exist in our records.",
			extra: [][2]string{{"AWSAccessKeyId", parts[0]}}}
	}
	s.mu.Lock()
	secret := s.secret
	s.mu.Unlock()
	want := sigV4(secret, parts[1], parts[2], parts[3], p64)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		// S3 adds the string to sign; the policy is that string for POST.
		return "", 0, 0, 0, &s3Error{status: http.StatusForbidden, code: "SignatureDoesNotMatch",
			msg:   "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
			extra: [][2]string{{"AWSAccessKeyId", parts[0]}, {"StringToSign", p64}}}
	}

	pol, perr := parsePolicy(p64)
	if perr != "" {
		return "", 0, 0, 0, &s3Error{status: http.StatusBadRequest, code: "InvalidPolicyDocument", msg: "Invalid Policy: " + perr}
	}
	if !s.now().Before(pol.expiration) {
		return "", 0, 0, 0, accessDenied("Invalid according to Policy: Policy expired.")
	}
	covered := map[string]bool{}
	for _, c := range pol.conditions {
		if c.op == "content-length-range" {
			minSize, maxSize = c.min, c.max
			continue
		}
		covered[strings.ToLower(c.field)] = true
		v, ok := fields.get(c.field)
		if strings.EqualFold(c.field, "bucket") && !ok {
			v, ok = bucket, true // the bucket condition also holds against the URL's bucket
		}
		if !ok || (c.op == "eq" && v != c.value) || (c.op == "starts-with" && !strings.HasPrefix(v, c.value)) {
			return "", 0, 0, 0, accessDenied("Invalid according to Policy: Policy Condition failed: " + c.String())
		}
	}
	var extra []string
	for _, f := range fields {
		n := strings.ToLower(f.name)
		if n == "policy" || n == "x-amz-signature" || strings.HasPrefix(n, "x-ignore-") || covered[n] {
			continue
		}
		extra = append(extra, n)
	}
	if len(extra) > 0 {
		return "", 0, 0, 0, accessDenied("Invalid according to Policy: Extra input fields: " + strings.Join(extra, ", "))
	}

	s.mu.Lock()
	id, ok := s.byKey[key]
	rec := s.files[id]
	s.mu.Unlock()
	if !ok {
		return "", 0, 0, 0, accessDenied("Access Denied: no Desk file was issued this key")
	}
	if rec == nil || rec.State != "temp" {
		return "", 0, 0, 0, notPending(id, rec)
	}
	return key, maxSize, minSize, id, nil
}

type policy struct {
	expiration time.Time
	conditions []condition
}

// condition is one policy condition: eq and starts-with on a field, or
// content-length-range.
type condition struct {
	op, field, value string
	min, max         int64
}

// String prints the condition as S3 does in "Policy Condition failed".
func (c condition) String() string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return fmt.Sprintf("[%s, %s, %s]", q(c.op), q("$"+c.field), q(c.value))
}

// parsePolicy decodes a base64 POST policy; the returned text is S3-like and empty on
// success.
func parsePolicy(p64 string) (policy, string) {
	raw, err := base64.StdEncoding.DecodeString(p64)
	if err != nil {
		return policy{}, "Policy is not valid base64."
	}
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return policy{}, "Invalid JSON."
	}
	if doc.Expiration == nil {
		return policy{}, "Policy missing expiration."
	}
	var p policy
	p.expiration, err = time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return policy{}, fmt.Sprintf("Invalid 'expiration' value: '%s'", *doc.Expiration)
	}
	if doc.Conditions == nil {
		return policy{}, "Policy missing conditions."
	}
	for _, rc := range doc.Conditions {
		c, ok := parseCondition(rc)
		if !ok {
			return policy{}, "Invalid Condition: " + string(rc)
		}
		p.conditions = append(p.conditions, c)
	}
	return p, ""
}

func parseCondition(rc json.RawMessage) (condition, bool) {
	var obj map[string]string
	if json.Unmarshal(rc, &obj) == nil {
		if len(obj) != 1 {
			return condition{}, false
		}
		for k, v := range obj {
			return condition{op: "eq", field: k, value: v}, true
		}
	}
	var arr []any
	d := json.NewDecoder(bytes.NewReader(rc))
	d.UseNumber()
	if d.Decode(&arr) != nil || len(arr) != 3 {
		return condition{}, false
	}
	op, _ := arr[0].(string)
	op = strings.ToLower(op)
	if op == "content-length-range" {
		lo, ok1 := arr[1].(json.Number)
		hi, ok2 := arr[2].(json.Number)
		if !ok1 || !ok2 {
			return condition{}, false
		}
		mn, err1 := lo.Int64()
		mx, err2 := hi.Int64()
		if err1 != nil || err2 != nil || mn < 0 || mx < mn {
			return condition{}, false
		}
		return condition{op: op, min: mn, max: mx}, true
	}
	field, _ := arr[1].(string)
	value, ok := arr[2].(string)
	if !slices.Contains([]string{"eq", "starts-with"}, op) || !strings.HasPrefix(field, "$") || !ok {
		return condition{}, false
	}
	return condition{op: op, field: field[1:], value: value}, true
}
