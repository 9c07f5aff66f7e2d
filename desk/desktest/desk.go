package desktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// fileTypes lists the file types Desk knows, for messages; isFileType decides.
const fileTypes = "attachment, image, avatar, logo"

func isFileType(t string) bool {
	switch t {
	case "attachment", "image", "avatar", "logo":
		return true
	}
	return false
}

// maxJSONBody caps Desk request bodies; real ones are a few hundred bytes.
const maxJSONBody = 1 << 20

// apiError is one entry of Desk's {"errors":[…]} answer.
type apiError struct {
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

func writeDeskError(w http.ResponseWriter, status int, errs ...apiError) {
	writeJSON(w, status, map[string]any{"errors": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"errors":[{"code":"internal","detail":"encoding the answer failed"}]}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeInternal(w http.ResponseWriter, err error) {
	writeDeskError(w, http.StatusInternalServerError, apiError{Code: "internal", Detail: err.Error()})
}

// decodeStrict decodes exactly one JSON value, refusing unknown fields and trailing
// data as Desk's validator does; the error is ready to send.
func decodeStrict(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return &apiError{Code: "invalid_json", Detail: fmt.Sprintf("reading the request body: %v", err)}
	}
	if len(body) > maxJSONBody {
		return &apiError{Code: "invalid_json", Detail: fmt.Sprintf("request body exceeds %d bytes", maxJSONBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		e := &apiError{Code: "invalid_json", Detail: "request body is not valid JSON: " + err.Error()}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name, _ := strconv.Unquote(f)
			e.Field, e.Detail = name, fmt.Sprintf("unknown field %s", f)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			e.Field, e.Detail = te.Field, fmt.Sprintf("must be a JSON %s, not %s", te.Type, te.Value)
		}
		return e
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &apiError{Code: "invalid_json", Detail: "request body holds more than one JSON value"}
	}
	return nil
}

func validateFilename(name string) string {
	switch {
	case name == "":
		return "is required"
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case len(name) > 255:
		return "must be at most 255 bytes"
	case strings.Contains(name, "/"):
		return `must not contain "/"`
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

func validateDisposition(d string) string {
	if d != "attachment" && d != "attachment-inline" {
		return "must be attachment or attachment-inline"
	}
	return ""
}

func validateMimeType(mt string) string {
	if mt == "" {
		return "is required"
	}
	parsed, params, err := mime.ParseMediaType(mt)
	if err != nil || strings.TrimSpace(mt) != mt || strings.Count(parsed, "/") != 1 ||
		strings.HasPrefix(parsed, "/") || strings.HasSuffix(parsed, "/") {
		return fmt.Sprintf("%q is not a well-formed media type (type/subtype)", mt)
	}
	if len(params) > 0 || strings.Contains(mt, ";") {
		return fmt.Sprintf("%q must be a bare type/subtype without parameters", mt)
	}
	return ""
}

// refBody is the ref request; pointers tell a missing field from an empty one only in
// the messages, both are refused.
type refBody struct {
	Type        string `json:"type"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
}

func validateRef(b refBody) []apiError {
	var errs []apiError
	add := func(field, detail string) {
		if detail != "" {
			errs = append(errs, apiError{Code: "validation", Field: field, Detail: detail})
		}
	}
	switch {
	case b.Type == "":
		add("type", "is required")
	case !isFileType(b.Type):
		add("type", fmt.Sprintf("%q is not a known file type; use one of %s", b.Type, fileTypes))
	}
	add("filename", validateFilename(b.Filename))
	mtErr := validateMimeType(b.MimeType)
	add("mimeType", mtErr)
	if mtErr == "" && b.Type != "attachment" && isFileType(b.Type) &&
		!strings.HasPrefix(strings.ToLower(b.MimeType), "image/") {
		add("mimeType", fmt.Sprintf("%q is not allowed for type %s; use an image/* type or type attachment", b.MimeType, b.Type))
	}
	add("disposition", validateDisposition(b.Disposition))
	return errs
}

func (s *Server) handleRef(w http.ResponseWriter, r *http.Request) {
	var b refBody
	if e := decodeStrict(r, &b); e != nil {
		writeDeskError(w, http.StatusBadRequest, *e)
		return
	}
	if errs := validateRef(b); len(errs) > 0 {
		writeDeskError(w, http.StatusBadRequest, errs...)
		return
	}
	now := s.now()
	s.mu.Lock()
	id := s.nextID
	rec := &record{
		FileRecord: FileRecord{
			ID: id, Filename: b.Filename, MimeType: b.MimeType, Disposition: b.Disposition,
			Type: b.Type, State: "temp", CreatedAt: now, UpdatedAt: now,
			Key: fmt.Sprintf("files/%d/%s/%s", id, s.randomHex(8), b.Filename),
		},
		Token: s.randomHex(16),
	}
	s.nextID++
	s.files[id] = rec
	s.byKey[rec.Key] = id
	err := s.persist(id)
	secret := s.secret
	wire := fileJSON(rec, "")
	s.mu.Unlock()
	if err != nil {
		writeInternal(w, err)
		return
	}
	params := s.uploadParams(secret, rec.Key, b.MimeType, now)
	writeJSON(w, http.StatusCreated, refResponse{
		URL:    baseURL(r) + s3Prefix + Bucket,
		Params: params,
		File:   wire,
	})
}

type refResponse struct {
	URL    string        `json:"url"`
	Params orderedParams `json:"params"`
	File   fileWire      `json:"file"`
}

// orderedParams marshals as a JSON object keeping the order of the API documentation,
// so a client that sends params "verbatim, in order" is tested with a realistic order.
type orderedParams [][2]string

func (p orderedParams) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, kv := range p {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(kv[0])
		v, _ := json.Marshal(kv[1])
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// baseURL is the emulator as the client reached it, so the upload and download URLs
// work behind httptest, Serve or any port.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// user is Desk's createdBy/updatedBy/deletedBy reference; the emulator has one user.
type user struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

// fileWire is a file as Desk's JSON shows it.
type fileWire struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
	Type        string `json:"type"`
	Size        int64  `json:"size"`
	State       string `json:"state"`
	DownloadURL string `json:"downloadURL,omitempty"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
	DeletedAt   string `json:"deletedAt,omitempty"`
	CreatedBy   user   `json:"createdBy"`
	UpdatedBy   user   `json:"updatedBy"`
	DeletedBy   *user  `json:"deletedBy,omitempty"`
}

func fileJSON(r *record, downloadURL string) fileWire {
	me := user{ID: 1, Type: "users"}
	fw := fileWire{
		ID: r.ID, Filename: r.Filename, MimeType: r.MimeType, Disposition: r.Disposition,
		Type: r.Type, Size: r.Size, State: r.State, DownloadURL: downloadURL,
		CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano),
		UpdatedAt: r.UpdatedAt.UTC().Format(time.RFC3339Nano),
		CreatedBy: me, UpdatedBy: me,
	}
	if r.State == "deleted" {
		fw.DeletedAt = r.DeletedAt.UTC().Format(time.RFC3339Nano)
		fw.DeletedBy = &me
	}
	return fw
}

type patchBody struct {
	File *struct {
		State       *string `json:"state"`
		Filename    *string `json:"filename"`
		Disposition *string `json:"disposition"`
	} `json:"file"`
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, id int64) {
	var b patchBody
	if e := decodeStrict(r, &b); e != nil {
		writeDeskError(w, http.StatusBadRequest, *e)
		return
	}
	if b.File == nil {
		writeDeskError(w, http.StatusBadRequest, apiError{Code: "validation", Field: "file", Detail: "is required"})
		return
	}
	var errs []apiError
	add := func(field, detail string) {
		if detail != "" {
			errs = append(errs, apiError{Code: "validation", Field: field, Detail: detail})
		}
	}
	if b.File.State != nil && *b.File.State != "active" {
		add("state", fmt.Sprintf("%q cannot be set; the only state a client sets is active", *b.File.State))
	}
	if b.File.Filename != nil {
		add("filename", validateFilename(*b.File.Filename))
	}
	if b.File.Disposition != nil {
		add("disposition", validateDisposition(*b.File.Disposition))
	}
	if len(errs) > 0 {
		writeDeskError(w, http.StatusBadRequest, errs...)
		return
	}

	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.files[id]
	if !ok || rec.State == "deleted" {
		writeDeskError(w, http.StatusNotFound, notFound(id))
		return
	}
	if b.File.State != nil && !rec.Uploaded {
		writeDeskError(w, http.StatusBadRequest, apiError{Code: "validation", Field: "state",
			Detail: fmt.Sprintf("file %d has no uploaded object; POST it to the upload URL before activating", id)})
		return
	}
	if b.File.State != nil {
		rec.State, rec.Size = "active", rec.ObjectSize
	}
	if b.File.Filename != nil {
		rec.Filename = *b.File.Filename
	}
	if b.File.Disposition != nil {
		rec.Disposition = *b.File.Disposition
	}
	rec.UpdatedAt = now
	if err := s.persist(id); err != nil {
		writeInternal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"file": fileJSON(rec, "")})
}

func notFound(id int64) apiError {
	return apiError{Code: "not_found", Detail: fmt.Sprintf("file %d not found", id)}
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.files[id]
	if !ok {
		writeDeskError(w, http.StatusNotFound, notFound(id))
		return
	}
	dl := ""
	if rec.State == "active" {
		dl = fmt.Sprintf("%s%s%d?k=%s", baseURL(r), downloadPrefix, id, url.QueryEscape(rec.Token))
	}
	writeJSON(w, http.StatusOK, map[string]any{"file": fileJSON(rec, dl)})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, id int64) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.files[id]
	if !ok || rec.State == "deleted" {
		writeDeskError(w, http.StatusNotFound, notFound(id))
		return
	}
	// Desk leaves updatedAt alone on deletion ("This field is not updated when the
	// object is deleted").
	rec.State, rec.DeletedAt = "deleted", now
	if err := s.persist(id); err != nil {
		writeInternal(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, id int64) {
	s.mu.Lock()
	rec, ok := s.files[id]
	var cp record
	if ok {
		cp = *rec
	}
	s.mu.Unlock()
	if !ok || cp.State != "active" {
		writeS3Error(w, r, &s3Error{status: http.StatusNotFound, code: "NoSuchKey", msg: "The specified key does not exist."})
		return
	}
	if r.URL.Query().Get("k") != cp.Token {
		writeS3Error(w, r, &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: "Access Denied"})
		return
	}
	f, err := s.blobs.open(id)
	if err != nil {
		writeS3Error(w, r, &s3Error{status: http.StatusNotFound, code: "NoSuchKey", msg: "The specified key does not exist."})
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", cp.MimeType)
	w.Header().Set("ETag", `"`+cp.MD5+`"`)
	http.ServeContent(w, r, "", cp.UpdatedAt, f)
}
