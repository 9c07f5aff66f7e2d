package state

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestApplyMove(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	rec := Attachment{ID: 7, Filename: "a.png", Blake3: strings.Repeat("a", 64), State: "active", UploadedAt: at}
	tests := []struct {
		name    string
		m       Mutation
		want    string // address holding ID 7 afterwards, "" when the move is refused
		wantErr string
	}{
		{name: "re-key", m: Mutation{Op: OpMove, PreviousAddress: "a.png", Address: "b/a.png"}, want: "b/a.png"},
		{name: "with new record", m: Mutation{Op: OpMove, PreviousAddress: "a.png", Address: "b.png",
			Attachment: &Attachment{ID: 7, Filename: "b.png", Blake3: rec.Blake3, UploadedAt: at}}, want: "b.png"},
		{name: "nothing to move", m: Mutation{Op: OpMove, PreviousAddress: "x.png", Address: "b.png"}, wantErr: `"x.png": it has no attachment`},
		{name: "target taken", m: Mutation{Op: OpMove, PreviousAddress: "a.png", Address: "c.png"}, wantErr: `"c.png" already has an attachment`},
		{name: "same address", m: Mutation{Op: OpMove, PreviousAddress: "a.png", Address: "a.png"}, wantErr: "malformed"},
		{name: "no old address", m: Mutation{Op: OpMove, Address: "b.png"}, wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("https://example.teamwork.com")
			s.Attachments["a.png"] = &rec
			s.Attachments["c.png"] = &Attachment{ID: 8, Blake3: rec.Blake3}
			err := s.Apply(tt.m)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply = %v, want an error containing %q", err, tt.wantErr)
				}
				if s.Attachments["a.png"] == nil || len(s.Attachments) != 2 {
					t.Errorf("a refused move changed the state: %v", s.Attachments)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := s.Attachments[tt.want]
			if got == nil || got.ID != 7 || s.Attachments["a.png"] != nil {
				t.Fatalf("after the move: %v", s.Attachments)
			}
			if tt.m.Attachment != nil && got.Filename != tt.m.Attachment.Filename {
				t.Errorf("record at the new address has filename %q, want %q", got.Filename, tt.m.Attachment.Filename)
			}
		})
	}
}

// A step carrying a record the format refuses is refused by Apply and never reaches the
// journal, where it would make the state unloadable.
func TestMalformedMutationRefused(t *testing.T) {
	bad := Mutation{Op: OpActivate, Address: "a.png", Attachment: &Attachment{ID: 0, Blake3: strings.Repeat("a", 64)}}
	want := `state: malformed "activate" mutation: attachments["a.png"].id: 0 is not a Desk file id`
	s := New("https://example.teamwork.com")
	if err := s.Apply(bad); err == nil || err.Error() != want {
		t.Errorf("Apply = %v, want %s", err, want)
	}
	f, s := journaled(t, 1)
	before := mustRead(t, f.JournalPath())
	if err := f.Append(context.Background(), s, []Mutation{bad}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Append = %v, want it refused", err)
	}
	if got := mustRead(t, f.JournalPath()); !bytes.Equal(got, before) {
		t.Errorf("a refused step reached the journal")
	}
}
