package refresh

import (
	"context"
	"fmt"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// Import adopts Desk file id as the attachment of the manifest entry e, recording it in
// st (the caller holds the state lock and saves). local is the size and blake3 of e's
// file. The record holds what Desk reports (filename, disposition, type, mimeType,
// size), so the next plan updates or replaces whatever differs from the manifest. The
// local blake3 is recorded only when Desk's size equals the local size; otherwise
// UnknownBlake3, so the next plan replaces the file. now stamps the record when Desk
// gives no time.
//
// Import refuses, with an *ImportError, an address already tracked or with an upload
// pending, a file another address already tracks, and a file that does not exist or is
// not active on Desk.
func Import(ctx context.Context, st *state.State, d Desk, e manifest.Entry, id int64, local plan.FileDigest, now time.Time) (*state.Attachment, error) {
	fail := func(msg, hint string, err error) error {
		return &ImportError{Address: e.Address, ID: id, Msg: msg, Remedy: hint, Err: err}
	}
	if id <= 0 {
		return nil, fail(fmt.Sprintf("%d is not a Desk file ID", id), "Desk file IDs are positive whole numbers, e.g. the 123 of /desk/api/v2/files/123.json", nil)
	}
	if a := st.Attachments[e.Address]; a != nil {
		return nil, fail(fmt.Sprintf("the address is already tracked as Desk file %d", a.ID),
			fmt.Sprintf("to track another file, first forget this one: desksync state rm %s", e.Address), nil)
	}
	if p := st.Pending[e.Address]; p != nil {
		return nil, fail(fmt.Sprintf("an interrupted upload (temp file %d) is still recorded for the address", p.ID),
			"run desksync apply first, so it cleans up the interrupted upload", nil)
	}
	for _, addr := range st.Addresses() {
		if st.Attachments[addr].ID == id {
			return nil, fail(fmt.Sprintf("Desk file %d is already tracked as %s", id, addr),
				"one Desk file can belong to one address only; pick another file, or desksync state rm "+addr+" first", nil)
		}
	}
	f, err := d.GetFile(ctx, id)
	switch {
	case err != nil && desk.IsNotFound(err):
		return nil, fail(fmt.Sprintf("Desk has no file %d", id), "check the ID: it is the number in the file's /desk/api/v2/files/ID.json URL", err)
	case err != nil:
		return nil, fail("could not read the file from Desk", "", err)
	case f.State != "active":
		return nil, fail(fmt.Sprintf("Desk file %d is %s, not active", id, quoteState(f.State)),
			"only an active file can be imported; to upload the local file instead, run desksync apply", nil)
	}
	a := state.Attachment{
		ID:          id,
		Filename:    f.Filename,
		MimeType:    or(f.MimeType, e.MimeType),
		Disposition: or(f.Disposition, e.Disposition),
		Type:        or(f.Type, e.Type),
		Size:        f.Size,
		Blake3:      UnknownBlake3,
		State:       "active",
		UploadedAt:  f.UpdatedAt,
	}
	if f.Size == local.Size {
		a.Blake3 = local.Blake3
	}
	if a.UploadedAt.IsZero() {
		a.UploadedAt = f.CreatedAt
	}
	if a.UploadedAt.IsZero() {
		a.UploadedAt = now
	}
	a.UploadedAt = a.UploadedAt.UTC()
	if err := st.Apply(state.Mutation{Op: state.OpActivate, Address: e.Address, Attachment: &a}); err != nil {
		return nil, err
	}
	return st.Attachments[e.Address], nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func quoteState(s string) string {
	if s == "" {
		return "in no state"
	}
	return fmt.Sprintf("%q", s)
}

// ImportError is an import refused or failed.
type ImportError struct {
	Address string
	ID      int64
	Msg     string
	Remedy  string
	// Err is the Desk error behind it, if any.
	Err error
}

func (e *ImportError) Error() string {
	s := fmt.Sprintf("import %s (file %d): %s", e.Address, e.ID, e.Msg)
	if e.Err != nil && !desk.IsNotFound(e.Err) {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ImportError) Unwrap() error { return e.Err }

// Hint says what to do instead: the refusal's own remedy, else the Desk error's.
func (e *ImportError) Hint() string {
	if e.Remedy != "" {
		return e.Remedy
	}
	if hs := hint.Of(e.Err); len(hs) > 0 {
		return hs[0]
	}
	return ""
}
