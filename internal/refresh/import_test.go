package refresh_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/refresh"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

func TestImport(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	entry := manifest.Entry{Address: "docs/guide.md", Resolved: "docs/guide.md", Filename: "guide.md",
		Disposition: "attachment", Type: "attachment", MimeType: "text/markdown"}
	type world struct {
		st    *state.State
		file  *desk.File // the active guide.md on Desk
		other *desk.File // another active file, tracked as other.png
		temp  int64      // a ref never uploaded
	}
	tests := []struct {
		name    string
		local   plan.FileDigest
		id      func(w world) int64
		setup   func(t *testing.T, w world, srv *desktest.Server)
		want    func(w world) *state.Attachment
		wantErr func(w world) string
		hint    string
	}{
		{
			name:  "same size: the local blake3 is recorded",
			local: plan.FileDigest{Size: 8, Blake3: hashA},
			id:    func(w world) int64 { return w.file.ID },
			want: func(w world) *state.Attachment {
				return &state.Attachment{ID: w.file.ID, Filename: "guide.md", MimeType: "text/markdown", Disposition: "attachment",
					Type: "attachment", Size: 8, Blake3: hashA, State: "active", UploadedAt: w.file.UpdatedAt.UTC()}
			},
		},
		{
			name:  "other size: content unknown, so the next plan replaces",
			local: plan.FileDigest{Size: 9, Blake3: hashA},
			id:    func(w world) int64 { return w.file.ID },
			want: func(w world) *state.Attachment {
				return &state.Attachment{ID: w.file.ID, Filename: "guide.md", MimeType: "text/markdown", Disposition: "attachment",
					Type: "attachment", Size: 8, Blake3: refresh.UnknownBlake3, State: "active", UploadedAt: w.file.UpdatedAt.UTC()}
			},
		},
		{
			name:  "Desk's filename and disposition are recorded, for the plan to update",
			local: plan.FileDigest{Size: 8, Blake3: hashA},
			id:    func(w world) int64 { return w.file.ID },
			setup: func(t *testing.T, w world, srv *desktest.Server) {
				check(t, srv.Edit(w.file.ID, func(f *desktest.FileRecord) { f.Filename = "Guide v1.md"; f.Disposition = "attachment-inline" }))
			},
			want: func(w world) *state.Attachment {
				return &state.Attachment{ID: w.file.ID, Filename: "Guide v1.md", MimeType: "text/markdown", Disposition: "attachment-inline",
					Type: "attachment", Size: 8, Blake3: hashA, State: "active", UploadedAt: w.file.UpdatedAt.UTC()}
			},
		},
		{
			name: "address already tracked",
			id:   func(w world) int64 { return w.file.ID },
			setup: func(t *testing.T, w world, _ *desktest.Server) {
				w.st.Attachments["docs/guide.md"] = record(w.other, hashB)
			},
			wantErr: func(w world) string {
				return fmt.Sprintf("import docs/guide.md (file %d): the address is already tracked as Desk file %d", w.file.ID, w.other.ID)
			},
			hint: "to track another file, first forget this one: desksync state rm docs/guide.md",
		},
		{
			name: "file tracked by another address",
			id:   func(w world) int64 { return w.other.ID },
			wantErr: func(w world) string {
				return fmt.Sprintf("import docs/guide.md (file %d): Desk file %d is already tracked as other.png", w.other.ID, w.other.ID)
			},
			hint: "one Desk file can belong to one address only; pick another file, or desksync state rm other.png first",
		},
		{
			name: "upload pending for the address",
			id:   func(w world) int64 { return w.file.ID },
			setup: func(t *testing.T, w world, _ *desktest.Server) {
				w.st.SetPending("docs/guide.md", state.Pending{ID: w.temp, Blake3: hashA, StartedAt: now})
			},
			wantErr: func(w world) string {
				return fmt.Sprintf("import docs/guide.md (file %d): an interrupted upload (temp file %d) is still recorded for the address", w.file.ID, w.temp)
			},
			hint: "run desksync apply first, so it cleans up the interrupted upload",
		},
		{
			name:    "no such file",
			id:      func(world) int64 { return 999 },
			wantErr: func(world) string { return "import docs/guide.md (file 999): Desk has no file 999" },
			hint:    "check the ID: it is the number in the file's /desk/api/v2/files/ID.json URL",
		},
		{
			name: "deleted on Desk",
			id:   func(w world) int64 { return w.file.ID },
			setup: func(t *testing.T, w world, srv *desktest.Server) {
				check(t, srv.Edit(w.file.ID, func(f *desktest.FileRecord) { f.State = "deleted" }))
			},
			wantErr: func(w world) string {
				return fmt.Sprintf("import docs/guide.md (file %d): Desk file %d is \"deleted\", not active", w.file.ID, w.file.ID)
			},
			hint: "only an active file can be imported; to upload the local file instead, run desksync apply",
		},
		{
			name: "temp on Desk",
			id:   func(w world) int64 { return w.temp },
			wantErr: func(w world) string {
				return fmt.Sprintf("import docs/guide.md (file %d): Desk file %d is \"temp\", not active", w.temp, w.temp)
			},
			hint: "only an active file can be imported; to upload the local file instead, run desksync apply",
		},
		{
			name:    "not an ID",
			id:      func(world) int64 { return 0 },
			wantErr: func(world) string { return "import docs/guide.md (file 0): 0 is not a Desk file ID" },
			hint:    "Desk file IDs are positive whole numbers, e.g. the 123 of /desk/api/v2/files/123.json",
		},
		{
			name: "Desk fails",
			id:   func(w world) int64 { return w.file.ID },
			setup: func(t *testing.T, w world, srv *desktest.Server) {
				srv.Inject(desktest.Get, desktest.Fault{Status: 401})
			},
			wantErr: func(w world) string {
				return fmt.Sprintf("import docs/guide.md (file %d): could not read the file from Desk: desk: get file %d: 401 Unauthorized: injected fault: status 401", w.file.ID, w.file.ID)
			},
			hint: "check DESK_API_KEY (or --api-key): Desk did not accept it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			w := world{
				file:  e.upload("guide.md", "text/markdown", "# Guide\n"),
				other: e.upload("other.png", "image/png", "\x89PNG"),
			}
			ref, err := e.client.CreateRef(context.Background(), desk.RefRequest{Type: "attachment", Filename: "t.md", MimeType: "text/markdown", Disposition: "attachment"})
			check(t, err)
			w.temp = ref.File.ID
			w.st = newState(map[string]*state.Attachment{"other.png": record(w.other, hashB)})
			if tt.setup != nil {
				tt.setup(t, w, e.srv)
			}
			before := w.st.Clone()
			got, err := refresh.Import(context.Background(), w.st, e.client, entry, tt.id(w), tt.local, now)
			if tt.wantErr != nil {
				if err == nil || err.Error() != tt.wantErr(w) {
					t.Fatalf("err = %v\nwant %s", err, tt.wantErr(w))
				}
				if h := err.(interface{ Hint() string }).Hint(); h != tt.hint {
					t.Errorf("Hint() = %q\nwant %q", h, tt.hint)
				}
				if !reflect.DeepEqual(w.st, before) {
					t.Errorf("a refused import changed the state")
				}
				return
			}
			check(t, err)
			want := tt.want(w)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(w.st.Attachments["docs/guide.md"], want) {
				t.Errorf("recorded\n %+v\nwant\n %+v", w.st.Attachments["docs/guide.md"], want)
			}
		})
	}
}
