package desktest

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestThreeStepUpload(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Clock: clock.Now})
	content := []byte("hello, desk\n")

	// Step 1: ref.
	res := e.desk("POST", "/desk/api/v2/files/ref.json",
		`{"type":"attachment","filename":"hello.txt","mimeType":"text/plain","disposition":"attachment-inline"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("ref: status %d: %s", res.status, res.body)
	}
	r := decodeRef(t, res.body)
	if want := e.url + "/s3/" + Bucket; r.URL != want {
		t.Errorf("url = %q, want %q", r.URL, want)
	}
	var names []string
	for _, p := range r.Params {
		names = append(names, p[0])
	}
	wantNames := "Content-Type bucket key policy success_action_status x-amz-algorithm x-amz-credential x-amz-date x-amz-signature"
	if got := strings.Join(names, " "); got != wantNames {
		t.Errorf("params = %s, want %s", got, wantNames)
	}
	for name, want := range map[string]string{
		"Content-Type":          "text/plain",
		"bucket":                Bucket,
		"key":                   "files/1/",
		"success_action_status": "201",
		"x-amz-algorithm":       "AWS4-HMAC-SHA256",
		"x-amz-credential":      AccessKeyID + "/20261126/us-east-1/s3/aws4_request",
		"x-amz-date":            "20261126T100000Z",
	} {
		if got := r.param(name); !strings.HasPrefix(got, want) {
			t.Errorf("param %s = %q, want %q", name, got, want)
		}
	}
	pol, err := base64.StdEncoding.DecodeString(r.param("policy"))
	if err != nil || !strings.Contains(string(pol), `"expiration":"2026-11-26T11:00:00.000Z"`) ||
		!strings.Contains(string(pol), `["content-length-range",0,5368709120]`) {
		t.Errorf("policy = %s (%v)", pol, err)
	}
	wantFile := map[string]any{
		"id": 1.0, "filename": "hello.txt", "mimeType": "text/plain", "disposition": "attachment-inline",
		"type": "attachment", "size": 0.0, "state": "temp",
		"createdAt": "2026-11-26T10:00:00Z", "updatedAt": "2026-11-26T10:00:00Z",
		"createdBy": map[string]any{"id": 1.0, "type": "users"}, "updatedBy": map[string]any{"id": 1.0, "type": "users"},
	}
	if got, want := fmt.Sprint(r.File), fmt.Sprint(wantFile); got != want {
		t.Errorf("file = %s\nwant   %s", got, want)
	}

	// Step 2: the S3 POST.
	up := e.upload(r.URL, formFor(r, content), nil)
	if up.status != http.StatusCreated {
		t.Fatalf("upload: status %d: %s", up.status, up.body)
	}
	etag := `"` + md5hex(content) + `"`
	if got := up.header.Get("ETag"); got != etag {
		t.Errorf("ETag header = %s, want %s", got, etag)
	}
	var pr struct {
		Bucket, Key, ETag, Location string
	}
	if err := xml.Unmarshal(up.body, &pr); err != nil {
		t.Fatalf("PostResponse %s: %v", up.body, err)
	}
	if pr.Bucket != Bucket || pr.Key != r.param("key") || pr.ETag != etag ||
		pr.Location != r.URL+"/"+r.param("key") {
		t.Errorf("PostResponse = %+v", pr)
	}
	if f := e.s.Files()[0]; f.State != "temp" || f.Size != 0 || f.MD5 != md5hex(content) {
		t.Errorf("after upload: %+v", f)
	}

	// Step 3: activate.
	clock.Advance(time.Minute)
	res = e.desk("PATCH", "/desk/api/v2/files/1.json", `{"file":{"state":"active","filename":"hi.txt"}}`)
	if res.status != http.StatusOK {
		t.Fatalf("patch: status %d: %s", res.status, res.body)
	}
	var got struct{ File map[string]any }
	json.Unmarshal(res.body, &got)
	if got.File["state"] != "active" || got.File["size"] != float64(len(content)) ||
		got.File["filename"] != "hi.txt" || got.File["updatedAt"] != "2026-11-26T10:01:00Z" {
		t.Errorf("patched file = %v", got.File)
	}

	// GET shows a download URL that serves the bytes without the API key.
	res = e.desk("GET", "/desk/api/v2/files/1.json", "")
	json.Unmarshal(res.body, &got)
	dl, _ := got.File["downloadURL"].(string)
	if !strings.HasPrefix(dl, e.url+"/desktest/download/1?k=") {
		t.Fatalf("downloadURL = %q", dl)
	}
	req, _ := http.NewRequest("GET", dl, nil)
	d := e.do(req)
	if d.status != http.StatusOK || string(d.body) != string(content) || d.header.Get("Content-Type") != "text/plain" {
		t.Errorf("download: %d %q %s", d.status, d.body, d.header.Get("Content-Type"))
	}
	req, _ = http.NewRequest("GET", strings.Split(dl, "?")[0]+"?k=wrong", nil)
	if d := e.do(req); d.status != http.StatusForbidden {
		t.Errorf("download with a wrong token: status %d", d.status)
	}
	if c, err := e.s.Content(1); err != nil || string(c) != string(content) {
		t.Errorf("Content(1) = %q, %v", c, err)
	}
	if r2 := e.ref("b.png", "image/png"); r2.id() != 2 {
		t.Errorf("second ref id = %d, want 2", r2.id())
	}

	// The S3 POST carried no Authorization, the Desk calls did.
	for _, rq := range e.s.Requests() {
		if (rq.Endpoint == Upload || rq.Endpoint == Download) != (rq.Authorization == "") {
			t.Errorf("request %s %s: Authorization %q", rq.Method, rq.Path, rq.Authorization)
		}
	}
}

// signedPolicy builds params for key with a policy the test chooses, signed with the
// emulator's real secret, to reach checks an honest ref never trips.
func signedPolicy(s *Server, r ref, conditions string, expiration time.Time) ref {
	pol := fmt.Sprintf(`{"expiration":%q,"conditions":[%s]}`, expiration.Format(time.RFC3339), conditions)
	p64 := base64.StdEncoding.EncodeToString([]byte(pol))
	out := ref{URL: r.URL, File: r.File}
	for _, p := range r.Params {
		switch p[0] {
		case "policy":
			p[1] = p64
		case "x-amz-signature":
			p[1] = sigV4(s.secret, "20261126", Region, "s3", p64)
		}
		out.Params = append(out.Params, p)
	}
	return out
}

func TestUploadRejects(t *testing.T) {
	content := []byte("0123456789")
	type tc struct {
		name       string
		opts       Options
		parts      func(r ref, s *Server) []formPart
		header     http.Header
		rawCT      string // overrides the multipart Content-Type
		expire     bool   // move the clock past the policy's expiry
		wantStatus int
		wantCode   string
		wantMsg    string
	}
	set := func(parts []formPart, name, value string) []formPart {
		for i := range parts {
			if parts[i].name == name {
				parts[i].value = value
			}
		}
		return parts
	}
	without := func(parts []formPart, name string) []formPart {
		var out []formPart
		for _, p := range parts {
			if p.name != name {
				out = append(out, p)
			}
		}
		return out
	}
	insertBeforeFile := func(parts []formPart, p formPart) []formPart {
		n := len(parts)
		return append(parts[:n-1:n-1], p, parts[n-1])
	}
	tests := []tc{
		{
			name:       "changed Content-Type",
			parts:      func(r ref, _ *Server) []formPart { return set(formFor(r, content), "Content-Type", "text/html") },
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: `Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "text/plain"]`,
		},
		{
			name: "changed key",
			parts: func(r ref, _ *Server) []formPart {
				return set(formFor(r, content), "key", r.param("key")+"x")
			},
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: `Invalid according to Policy: Policy Condition failed: ["eq", "$key", "files/1/KEY/a.txt"]`,
		},
		{
			name: "changed bucket field",
			parts: func(r ref, _ *Server) []formPart {
				return set(formFor(r, content), "bucket", "other")
			},
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: `Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "desktest-bucket"]`,
		},
		{
			name:       "removed Content-Type",
			parts:      func(r ref, _ *Server) []formPart { return without(formFor(r, content), "Content-Type") },
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: `Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "text/plain"]`,
		},
		{
			name:       "removed success_action_status",
			parts:      func(r ref, _ *Server) []formPart { return without(formFor(r, content), "success_action_status") },
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: `Invalid according to Policy: Policy Condition failed: ["eq", "$success_action_status", "201"]`,
		},
		{
			name:       "removed x-amz-date",
			parts:      func(r ref, _ *Server) []formPart { return without(formFor(r, content), "x-amz-date") },
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "Bucket POST must contain a field named 'x-amz-date'. If it is specified, please check the order of the fields.",
		},
		{
			name:       "removed policy",
			parts:      func(r ref, _ *Server) []formPart { return without(formFor(r, content), "policy") },
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "Bucket POST must contain a field named 'policy'. If it is specified, please check the order of the fields.",
		},
		{
			name: "extra field",
			parts: func(r ref, _ *Server) []formPart {
				return insertBeforeFile(formFor(r, content), formPart{name: "acl", value: "public-read"})
			},
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: "Invalid according to Policy: Extra input fields: acl",
		},
		{
			name: "field sent twice",
			parts: func(r ref, _ *Server) []formPart {
				return insertBeforeFile(formFor(r, content), formPart{name: "key", value: r.param("key")})
			},
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "POST form field 'key' appears more than once.",
		},
		{
			name: "bad signature",
			parts: func(r ref, _ *Server) []formPart {
				return set(formFor(r, content), "x-amz-signature", strings.Repeat("0", 64))
			},
			wantStatus: 403, wantCode: "SignatureDoesNotMatch",
			wantMsg: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		},
		{
			name: "policy edited without re-signing",
			parts: func(r ref, _ *Server) []formPart {
				pol, _ := base64.StdEncoding.DecodeString(r.param("policy"))
				edited := strings.Replace(string(pol), "text/plain", "text/html", 1)
				parts := set(formFor(r, content), "policy", base64.StdEncoding.EncodeToString([]byte(edited)))
				return set(parts, "Content-Type", "text/html")
			},
			wantStatus: 403, wantCode: "SignatureDoesNotMatch",
			wantMsg: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		},
		{
			name: "other access key",
			parts: func(r ref, _ *Server) []formPart {
				return set(formFor(r, content), "x-amz-credential", "AKIAOTHER/20261126/us-east-1/s3/aws4_request")
			},
			wantStatus: 403, wantCode: "InvalidAccessKeyId",
			wantMsg: "The AWS Access Key Id you provided does not exist in our records.",
		},
		{
			name:       "expired policy",
			parts:      func(r ref, _ *Server) []formPart { return formFor(r, content) },
			expire:     true,
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: "Invalid according to Policy: Policy expired.",
		},
		{
			name:       "too large for the emulator",
			opts:       Options{MaxUploadSize: 9},
			parts:      func(r ref, _ *Server) []formPart { return formFor(r, content) },
			wantStatus: 400, wantCode: "EntityTooLarge",
			wantMsg: "Your proposed upload exceeds the maximum allowed size",
		},
		{
			name: "too large for the policy",
			parts: func(r ref, s *Server) []formPart {
				return formFor(signedPolicy(s, r, policyConds(r, 0, 5), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)), content)
			},
			wantStatus: 400, wantCode: "EntityTooLarge",
			wantMsg: "Your proposed upload exceeds the maximum allowed size",
		},
		{
			name: "too small for the policy",
			parts: func(r ref, s *Server) []formPart {
				return formFor(signedPolicy(s, r, policyConds(r, 11, 100), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)), content)
			},
			wantStatus: 400, wantCode: "EntityTooSmall",
			wantMsg: "Your proposed upload is smaller than the minimum allowed size",
		},
		{
			name: "signed policy missing a condition for a sent field",
			parts: func(r ref, s *Server) []formPart {
				conds := strings.Replace(policyConds(r, 0, 100), `{"success_action_status":"201"},`, "", 1)
				return formFor(signedPolicy(s, r, conds, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)), content)
			},
			wantStatus: 403, wantCode: "AccessDenied",
			wantMsg: "Invalid according to Policy: Extra input fields: success_action_status",
		},
		{
			name: "file not last",
			parts: func(r ref, _ *Server) []formPart {
				parts := formFor(r, content)
				n := len(parts)
				// The Desk doc's curl example sends bucket after the file.
				return append(without(parts[:n-1], "bucket"), parts[n-1], formPart{name: "bucket", value: Bucket})
			},
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "Bucket POST must contain a field named 'bucket'. If it is specified, please check the order of the fields.",
		},
		{
			name: "two files",
			parts: func(r ref, _ *Server) []formPart {
				parts := formFor(r, content)
				return append(parts, parts[len(parts)-1])
			},
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "POST requires exactly one file upload per request.",
		},
		{
			name:       "no file",
			parts:      func(r ref, _ *Server) []formPart { p := formFor(r, content); return p[:len(p)-1] },
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "POST requires exactly one file upload per request.",
		},
		{
			name:       "Authorization header",
			parts:      func(r ref, _ *Server) []formPart { return formFor(r, content) },
			header:     http.Header{"Authorization": {"Bearer " + testKey}},
			wantStatus: 400, wantCode: "InvalidArgument",
			wantMsg: "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
		},
		{
			name:       "not multipart",
			parts:      func(r ref, _ *Server) []formPart { return formFor(r, content) },
			rawCT:      "application/x-www-form-urlencoded",
			wantStatus: 412, wantCode: "PreconditionFailed",
			wantMsg: "At least one of the pre-conditions you specified did not hold",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			tt.opts.Clock = clock.Now
			e := newEnv(t, tt.opts)
			r := e.ref("a.txt", "text/plain")
			parts := tt.parts(r, e.s)
			if tt.expire {
				clock.Advance(time.Hour)
			}
			header := tt.header
			if tt.rawCT != "" {
				header = http.Header{"Content-Type": {tt.rawCT}}
			}
			res := e.upload(r.URL, parts, header)
			got := decodeS3Error(t, res.body)
			msg := strings.Replace(tt.wantMsg, "KEY/a.txt", strings.TrimPrefix(r.param("key"), "files/1/"), 1)
			if res.status != tt.wantStatus || got.Code != tt.wantCode || got.Message != msg {
				t.Errorf("got %d %s %q\nwant %d %s %q", res.status, got.Code, got.Message, tt.wantStatus, tt.wantCode, msg)
			}
			if f := e.s.Files()[0]; f.MD5 != "" {
				t.Errorf("a rejected upload stored an object: %+v", f)
			}
			// Nothing was uploaded, so activation must still be refused.
			if res := e.desk("PATCH", "/desk/api/v2/files/1.json", `{"file":{"state":"active"}}`); res.status != 400 {
				t.Errorf("activation after a rejected upload: status %d", res.status)
			}
		})
	}
}

// policyConds are the conditions of r's real policy with another content-length-range.
func policyConds(r ref, min, max int64) string {
	return fmt.Sprintf(`{"bucket":%q},["eq","$key",%q],{"Content-Type":%q},{"success_action_status":"201"},`+
		`{"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"x-amz-credential":%q},{"x-amz-date":%q},["content-length-range",%d,%d]`,
		Bucket, r.param("key"), r.param("Content-Type"), r.param("x-amz-credential"), r.param("x-amz-date"), min, max)
}

func TestUploadAccepts(t *testing.T) {
	content := []byte("payload")
	tests := []struct {
		name  string
		parts func(r ref) []formPart
	}{
		{"params in the documented order", func(r ref) []formPart { return formFor(r, content) }},
		{"params in another order", func(r ref) []formPart {
			p := formFor(r, content)
			n := len(p)
			fields := append([]formPart(nil), p[:n-1]...)
			for i, j := 0, len(fields)-1; i < j; i, j = i+1, j-1 {
				fields[i], fields[j] = fields[j], fields[i]
			}
			return append(fields, p[n-1])
		}},
		{"an x-ignore- field", func(r ref) []formPart {
			p := formFor(r, content)
			n := len(p)
			return append(p[:n-1:n-1], formPart{name: "x-ignore-submit", value: "Upload"}, p[n-1])
		}},
		{"an empty file", func(r ref) []formPart { return formFor(r, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			r := e.ref("a.txt", "text/plain")
			parts := tt.parts(r)
			res := e.upload(r.URL, parts, nil)
			want := parts[len(parts)-1].value
			if res.status != http.StatusCreated || res.header.Get("ETag") != `"`+md5hex([]byte(want))+`"` {
				t.Fatalf("status %d ETag %s: %s", res.status, res.header.Get("ETag"), res.body)
			}
			if c, err := e.s.Content(1); err != nil || string(c) != want {
				t.Errorf("Content = %q, %v", c, err)
			}
		})
	}
}

func TestUploadOnlyWhileTemp(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.ref("a.txt", "text/plain")
	// While temp, a second upload replaces the first.
	for _, c := range []string{"first", "second"} {
		if res := e.upload(r.URL, formFor(r, []byte(c)), nil); res.status != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", c, res.status, res.body)
		}
	}
	if c, _ := e.s.Content(1); string(c) != "second" {
		t.Errorf("content = %q, want the last upload", c)
	}
	e.desk("PATCH", "/desk/api/v2/files/1.json", `{"file":{"state":"active"}}`)
	res := e.upload(r.URL, formFor(r, []byte("third")), nil)
	got := decodeS3Error(t, res.body)
	if want := "Access Denied: Desk file 1 for this key is active, not temp; request a new ref"; res.status != 403 || got.Code != "AccessDenied" || got.Message != want {
		t.Errorf("upload after activation: %d %s %q, want 403 AccessDenied %q", res.status, got.Code, got.Message, want)
	}
	if c, _ := e.s.Content(1); string(c) != "second" {
		t.Errorf("content = %q after a refused upload", c)
	}
}
