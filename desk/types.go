package desk

import "time"

// RefRequest is the body of POST /desk/api/v2/files/ref.json: a full disclosure of the
// file about to be uploaded.
type RefRequest struct {
	Type        string `json:"type"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
}

// Param is one form field that must be sent, verbatim and in order, with the S3 POST.
type Param struct {
	Name  string
	Value string
}

// Ref is Desk's answer to a ref request: where to POST the file, the signed form fields
// to send with it, and the temp file record.
type Ref struct {
	URL    string
	Params []Param // in the order Desk sent them
	File   File
}

// File is a Desk file record as returned by ref, PATCH and GET.
type File struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
	Type        string `json:"type"`
	// TypeMaxSize is the largest upload Desk allows for Type, when its answer says
	// (the schema's type object {"Name", "MaxSize", …}); 0 when unknown.
	TypeMaxSize int64     `json:"typeMaxSize,omitempty"`
	Size        int64     `json:"size"`
	State       string    `json:"state"` // temp, active, deleted
	DownloadURL string    `json:"downloadURL,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// FileUpdate is the body of PATCH /desk/api/v2/files/{id}.json; nil fields are not sent.
type FileUpdate struct {
	State       *string `json:"state,omitempty"`
	Filename    *string `json:"filename,omitempty"`
	Disposition *string `json:"disposition,omitempty"`
}
