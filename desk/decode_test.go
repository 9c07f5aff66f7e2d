package desk

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/desksync/desksync/internal/quote"
)

func TestDecodeRef(t *testing.T) {
	const file = `"file":{"id":42,"fileName":"a.png","type":"attachment"}`
	ref := func(url, params string) string {
		return fmt.Sprintf(`{"url":%q,"params":%s,%s}`, url, params, file)
	}
	tests := []struct {
		name    string
		body    string
		params  []Param
		wantErr string
	}{
		{"order kept", ref("https://b.s3.amazonaws.com/", `{"z":"1","a":"2","Content-Type":"image/png"}`),
			[]Param{{"z", "1"}, {"a", "2"}, {"Content-Type", "image/png"}}, ""},
		{"number value kept verbatim", ref("https://b.s3.amazonaws.com/", `{"success_action_status":201}`),
			[]Param{{"success_action_status", "201"}}, ""},
		{"loopback http", ref("http://127.0.0.1:9/up", `{}`), nil, ""},
		{"plain http elsewhere", ref("http://uploads.example.com/", `{}`), nil,
			`ref "url" "http://uploads.example.com/" uses plain http on a non-loopback host (uploads.example.com)`},
		{"relative URL", ref("/upload", `{}`), nil, `ref "url" "/upload" is not absolute`},
		{"ftp", ref("ftp://b.example.com/", `{}`), nil, `ref "url" "ftp://b.example.com/" has scheme "ftp", not https`},
		{"secret in URL redacted", ref("ftp://b.example.com/?X-Amz-Signature=s3cr3t", `{}`), nil,
			`ref "url" "ftp://b.example.com/?X-Amz-Signature=REDACTED" has scheme "ftp", not https`},
		{"CRLF in a value", ref("https://b/", `{"key":"a\r\nX: y"}`), nil, `ref "params" "key": the value contains control characters`},
		{"CRLF in a name", ref("https://b/", `{"ke\r\ny":"a"}`), nil, `ref "params" "ke y": the name contains control characters`},
		{"NUL in a value", ref("https://b/", `{"key":"a\u0000"}`), nil, `ref "params" "key": the value contains control characters`},
		{"param named file", ref("https://b/", `{"file":"x"}`), nil, `ref "params": a param is named "file", which is reserved for the upload itself`},
		{"duplicate", ref("https://b/", `{"key":"a","Key":"b"}`), nil, `ref "params" "Key": the name appears twice`},
		{"empty name", ref("https://b/", `{"":"a"}`), nil, `ref "params": a param has an empty name`},
		{"object value", ref("https://b/", `{"key":{"a":1}}`), nil, `ref "params" "key": the value is not a string`},
		{"params not an object", ref("https://b/", `["a"]`), nil, `ref "params" is not an object`},
		{"too many", ref("https://b/", manyParams(65)), nil, `ref "params": more than 64 params or 65536 bytes`},
		{"value too long", ref("https://b/", `{"policy":"`+strings.Repeat("A", 17<<10)+`"}`), nil, `ref "params" "policy": the value is longer than 16384 bytes`},
		{"no url", `{"params":{},` + file + `}`, nil, `the ref has no "url"`},
		{"no params", `{"url":"https://b/",` + file + `}`, nil, `the ref has no "params"`},
		{"no file", `{"url":"https://b/","params":{}}`, nil, `the ref has no "file"`},
		{"file without id", `{"url":"https://b/","params":{},"file":{"fileName":"a"}}`, nil, `ref "file" has no valid id (0)`},
		{"fractional id", `{"url":"https://b/","params":{},"file":{"id":4.5}}`, nil, `ref "file": file id 4.5 is not a whole number`},
		{"not JSON", `<html>`, nil, `decoding the ref: invalid character '<' looking for beginning of value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRef([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Params, tt.params) {
				t.Errorf("params = %v, want %v", got.Params, tt.params)
			}
			if got.File.ID != 42 || got.File.Filename != "a.png" || got.File.Type != "attachment" {
				t.Errorf("file = %+v", got.File)
			}
		})
	}
}

func manyParams(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"p%d":"v"`, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestFileJSONShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want File
	}{
		{"filename", `{"id":1,"filename":"a.png"}`, File{ID: 1, Filename: "a.png"}},
		{"fileName", `{"id":1,"fileName":"b.png"}`, File{ID: 1, Filename: "b.png"}},
		{"both: filename wins", `{"id":1,"fileName":"b.png","filename":"a.png"}`, File{ID: 1, Filename: "a.png"}},
		{"type string", `{"id":1,"type":"attachment"}`, File{ID: 1, Type: "attachment"}},
		{"type object", `{"id":1,"type":{"ContentTypes":["image/png"],"MaxSize":1048576,"Name":"image"}}`, File{ID: 1, Type: "image", TypeMaxSize: 1 << 20}},
		{"type null", `{"id":1,"type":null}`, File{ID: 1}},
		{"bad timestamp ignored", `{"id":1,"createdAt":"yesterday","updatedAt":12}`, File{ID: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f File
			if err := json.Unmarshal([]byte(tt.in), &f); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f, tt.want) {
				t.Errorf("got %+v, want %+v", f, tt.want)
			}
		})
	}
}

func TestDecodeS3Error(t *testing.T) {
	tests := []struct {
		name, body, code, msg string
		ok                    bool
	}{
		{"S3 error", `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message><RequestId>1</RequestId></Error>`,
			"AccessDenied", "Invalid according to Policy: Policy expired.", true},
		{"control characters", "<Error><Code>A\nB</Code><Message>line1\r\nline2\t</Message></Error>", "A B", "line1 line2", true},
		{"not an error document", `<PostResponse><ETag>x</ETag></PostResponse>`, "", "", false},
		{"not XML", `{"message":"x"}`, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, ok := decodeS3Error([]byte(tt.body), nil)
			if code != tt.code || msg != tt.msg || ok != tt.ok {
				t.Errorf("got %q %q %v, want %q %q %v", code, msg, ok, tt.code, tt.msg, tt.ok)
			}
		})
	}
}

// FuzzDecodeRef: whatever Desk sends, decodeRef never panics, and a ref it accepts
// is safe to replay as a multipart form.
func FuzzDecodeRef(f *testing.F) {
	f.Add([]byte(refJSON("https://desk-bucket.s3.amazonaws.com/")))
	f.Add([]byte(`{"url":"http://127.0.0.1/","params":{"a":"b","c":1},"file":{"id":1,"type":{"Name":"x","MaxSize":3}}}`))
	f.Add([]byte(`{"url":"https://b/","params":{"file":"x"},"file":{"id":1}}`))
	f.Add([]byte(`{"url":"https://b/","params":{"a":"\r\n"},"file":{"id":"1"}}`))
	for _, seed := range []string{
		`{"url":"http://uploads.example.com/","params":{},"file":{"id":1}}`,
		`{"url":"javascript:alert(1)","params":{},"file":{"id":1}}`,
		`{"url":"https://user:pw@b/","params":{},"file":{"id":1}}`,
		`{"url":"//b.example.com/","params":{},"file":{"id":1}}`,
		`{"url":"https://b/\r\nX: y","params":{},"file":{"id":1}}`,
		`{"url":"https://b/","params":{"a":"1","A":"2"},"file":{"id":1}}`,
		`{"url":"https://b/","params":{"a":"1","a":"2"},"file":{"id":1}}`,
		`{"url":"https://b/","params":{"k\r\nX-Evil: 1":"v"},"file":{"id":1}}`,
		`{"url":"https://b/","params":{"a":"--b\r\nContent-Disposition: form-data; name=\"key\""},"file":{"id":1}}`,
		`{"url":"https://b/","params":{"a":"\u0000"},"file":{"id":1}}`,
		"{\"url\":\"https://b/\",\"params\":{\"\xff\":\"\xfe\"},\"file\":{\"id\":1}}",
		`{"url":"https://b/","params":{"a":1e999,"b":-0,"c":null,"d":[],"e":{}},"file":{"id":1}}`,
		`{"url":"https://b/","params":[],"file":{"id":1}}`,
		`{"url":"https://b/","params":{},"file":{"id":9223372036854775808}}`,
		`{"url":"https://b/","params":{},"file":{"id":1.5,"size":-1}}`,
		`{"url":"https://b/","params":{},"file":null}`,
		`{"url":"https://b/","params":{},"file":{"id":1,"type":{"MaxSize":-1}}}`,
		`{"url":"https://b/","params":{},"file":{"id":1,"type":[1]}}`,
		`{"url":"https://b/","params":` + strings.Repeat(`{"a":`, 10000) + `}`,
		`{"url":"https://b/","params":{` + strings.Repeat(`"p":"v",`, 100) + `"q":"v"},"file":{"id":1}}`,
		`{"url":"https://b/","params":{"policy":"` + strings.Repeat("A", 20000) + `"},"file":{"id":1}}`,
		`[]`, `null`, ``, `{`, "\ufeff{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, err := decodeRef(data)
		if err != nil {
			// A refused ref still names the temp file Desk created, and nothing else.
			if ref != nil && (ref.File.ID <= 0 || !reflect.DeepEqual(*ref, Ref{File: File{ID: ref.File.ID}})) {
				t.Fatalf("a refused ref carries more than its id: %+v", ref)
			}
			return
		}
		if ref.File.ID <= 0 {
			t.Fatalf("accepted id %d", ref.File.ID)
		}
		if !strings.HasPrefix(ref.URL, "https://") && !strings.HasPrefix(ref.URL, "http://") {
			t.Fatalf("accepted URL %q", ref.URL)
		}
		if len(ref.Params) > maxParams {
			t.Fatalf("accepted %d params", len(ref.Params))
		}
		seen := map[string]bool{}
		for _, p := range ref.Params {
			if err := checkParam(p.Name, p.Value, seen); err != nil {
				t.Fatalf("accepted a param that checkParam refuses: %v", err)
			}
		}
	})
}

// FuzzDecodeS3Error: S3 error bodies never panic the decoder, and what comes out is
// printable, valid UTF-8 and capped.
func FuzzDecodeS3Error(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>`))
	f.Add([]byte("<Error><Code>\xff\xfe</Code><Message>a\r\nb</Message></Error>"))
	f.Add([]byte(`<Error><Message><![CDATA[x]]></Message></Error>`))
	f.Add([]byte(`{"errors":[{"field":"filename","detail":"must not be empty"}]}`))
	for _, seed := range []string{
		`<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><Error><Code>&b;</Code></Error>`,
		`<Error><Code>X</Code><Message>` + strings.Repeat("&#x41;", 5000) + `</Message></Error>`,
		`<Error><Error><Error><Code>nested</Code></Error></Error></Error>`,
		"<Error><Code>\x00</Code><Message>\x1b[31mred\x1b[0m</Message></Error>",
		`<Error><Code>a</Code><Code>b</Code></Error>`,
		`<Error xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Code>AccessDenied</Code></Error>`,
		strings.Repeat("<a>", 10000),
		`<html><body><h1>502 Bad Gateway</h1></body></html>`,
		`{"errors":{"filename":["is required","is too long"],"type":{"nested":["x"]}}}`,
		`{"error":{"code":"E1","message":"nested"}}`,
		`{"message":"a\u0000b\u2028c\ud800"}`,
		`{"errors":[` + strings.Repeat(`[`, 5000) + `]}`,
		`{"code":12345678901234567890123,"message":1e400}`,
		"\xff\xfe\x00<\x00E\x00r\x00r",
		"plain text \r\ndesksync: error: forged",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		code, msg, _ := decodeS3Error(data, nil)
		code2, msg2 := decodeErrorBody(data, nil)
		for _, s := range []string{code, msg, code2, msg2} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r != utf8.RuneError && quote.Unsafe(r) }) || len(s) > maxMessage+len("…") {
				t.Fatalf("unclean output %q", s)
			}
		}
	})
}

// FuzzDecodeFile: whatever a GET or PATCH answers, the file record decodes without
// panicking, and what it accepts has no negative id or size.
func FuzzDecodeFile(f *testing.F) {
	for _, seed := range []string{
		`{"file":{"id":1,"filename":"a.png","mimeType":"image/png","size":3,"state":"active","downloadURL":"https://x/dl?k=1"}}`,
		`{"file":{"id":1,"fileName":"a.png","type":{"Name":"image","MaxSize":1048576,"ContentTypes":["image/png"]}}}`,
		`{"file":{"id":"1"}}`,
		`{"file":{"id":-1}}`,
		`{"file":{"id":1e3,"size":1.0}}`,
		`{"file":{"id":99999999999999999999}}`,
		`{"file":{"id":1,"size":-5}}`,
		`{"file":{"id":1,"type":{"MaxSize":"big"}}}`,
		`{"file":{"id":1,"type":7}}`,
		`{"file":{"id":1,"createdAt":"not a time","updatedAt":12}}`,
		"{\"file\":{\"id\":1,\"filename\":\"caf\xe9\"}}",
		`{"file":{"id":1,"filename":null,"fileName":null}}`,
		`{"file":null}`, `{"file":[]}`, `{}`, `[]`, ``,
		`{"file":` + strings.Repeat(`{"file":`, 10000),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w struct {
			File *File `json:"file"`
		}
		if err := json.Unmarshal(data, &w); err != nil || w.File == nil {
			return
		}
		if w.File.ID < 0 || w.File.Size < 0 || w.File.TypeMaxSize < 0 {
			t.Fatalf("accepted a negative number: %+v", *w.File)
		}
	})
}
