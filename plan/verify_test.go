package plan

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/state"
)

// TestVerifyRefusesForgedPlans: each edit an attacker with the plan artifact could
// make is refused, naming the address, the field and both values.
func TestVerifyRefusesForgedPlans(t *testing.T) {
	t.Parallel()
	logo := file{addr: "images/logo.png", content: "logo"}
	moved := file{addr: "images/brand/logo.png", content: "logo"}
	guide := file{addr: "docs/guide.pdf", content: "guide v2", mimeType: "application/pdf"}
	since := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	m := mkManifest(t, moved, guide, file{addr: "new.png", content: "new"})
	st := mkState(map[string]*state.Attachment{
		"images/logo.png": tracked(1, logo),
		"docs/guide.pdf":  tracked(2, file{addr: "docs/guide.pdf", content: "guide v1", mimeType: "application/pdf"}),
	})
	st.Deposed = []state.Deposed{{Address: "docs/guide.pdf", ID: 118, Filename: "guide.pdf", Size: 8, Since: since}}
	now, err := Compute(context.Background(), m, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The changes are: create new.png, replace docs/guide.pdf, move images/brand/logo.png.
	if s := now.Summary(); s != (Summary{Create: 1, Replace: 1, Move: 1, Cleanup: 1}) {
		t.Fatalf("summary %+v", s)
	}
	good, err := json.Marshal(savedPlan{DesksyncPlan: FileVersion, FormatVersion: fileFormatVersion, Plan: *now})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(o map[string]any)) []byte {
		var o map[string]any
		if err := json.Unmarshal(good, &o); err != nil {
			t.Fatal(err)
		}
		f(o)
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	changes := func(o map[string]any) []any { return o["changes"].([]any) }
	change := func(o map[string]any, addr string) map[string]any {
		for _, c := range changes(o) {
			if c.(map[string]any)["address"] == addr {
				return c.(map[string]any)
			}
		}
		t.Fatalf("no change for %s", addr)
		return nil
	}
	tests := []struct {
		name string
		data []byte
		// noState verifies against a plan computed with no state at all.
		noState bool
		want    MismatchError
	}{
		{"delete of any Desk id added", edit(func(o map[string]any) {
			o["changes"] = append(changes(o), map[string]any{"address": "zzz", "action": "delete",
				"before": map[string]any{"id": 4242, "filename": "other-team.pdf", "mimeType": "application/pdf",
					"disposition": "attachment", "type": "attachment", "size": 1, "blake3": strings.Repeat("0", 64)},
				"after": nil, "reasons": []string{"not in the manifest"}})
		}), false, MismatchError{Address: "zzz", Field: "action", Saved: "delete", Now: "none"}},
		{"cleanup forged", edit(func(o map[string]any) {
			o["cleanups"] = append(o["cleanups"].([]any), map[string]any{"address": "zzz", "id": 4242, "kind": "deposed"})
		}), false, MismatchError{Address: "zzz", Field: "cleanup", Saved: "deposed of Desk file 4242", Now: "none"}},
		{"cleanup id changed", edit(func(o map[string]any) {
			o["cleanups"].([]any)[0].(map[string]any)["id"] = 4242
		}), false, MismatchError{Address: "docs/guide.pdf", Field: "cleanup.id", Saved: "4242", Now: "118"}},
		{"after.mimeType edited", edit(func(o map[string]any) {
			change(o, "new.png")["after"].(map[string]any)["mimeType"] = "text/html"
		}), false, MismatchError{Address: "new.png", Field: "after.mimeType", Saved: `"text/html"`, Now: `"image/png"`}},
		{"after.filename edited", edit(func(o map[string]any) {
			change(o, "new.png")["after"].(map[string]any)["filename"] = "invoice.exe"
		}), false, MismatchError{Address: "new.png", Field: "after.filename", Saved: `"invoice.exe"`, Now: `"new.png"`}},
		{"replace pointed at another Desk file", edit(func(o map[string]any) {
			change(o, "docs/guide.pdf")["before"].(map[string]any)["id"] = 4242
		}), false, MismatchError{Address: "docs/guide.pdf", Field: "before.id", Saved: "4242", Now: "2"}},
		{"move from another address", edit(func(o map[string]any) {
			change(o, "images/brand/logo.png")["previous_address"] = "other/file.png"
		}), false, MismatchError{Address: "images/brand/logo.png", Field: "previous_address", Saved: `"other/file.png"`, Now: `"images/logo.png"`}},
		{"create turned into nothing", edit(func(o map[string]any) {
			o["changes"] = changes(o)[:2]
		}), false, MismatchError{Address: "new.png", Field: "action", Saved: "none", Now: "create"}},
		{"no state at all", good, true,
			MismatchError{Address: "docs/guide.pdf", Field: "action", Saved: "replace", Now: "create"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			saved, err := decodePlan(tt.data)
			if err != nil {
				t.Fatalf("the forged plan does not even decode, so this case tests nothing: %v", err)
			}
			fresh := now
			if tt.noState {
				if fresh, err = Compute(context.Background(), m, nil, Options{}); err != nil {
					t.Fatal(err)
				}
			}
			err = Verify(saved, fresh)
			var me *MismatchError
			if !errors.As(err, &me) || *me != tt.want {
				t.Fatalf("Verify = %v\nwant %+v", err, tt.want)
			}
			if !strings.Contains(me.Hint(), "desksync plan --out FILE") {
				t.Errorf("Hint() = %q", me.Hint())
			}
		})
	}

	// The untouched file verifies, and so does one with the diff and notes of
	// plan --diff: they are for reading and are not compared.
	saved, err := decodePlan(good)
	if err != nil {
		t.Fatal(err)
	}
	saved.Changes[0].Diff = "--- desk\n+++ local\n"
	saved.Changes[0].Reasons = append(saved.Changes[0].Reasons, NoteBinary)
	if err := Verify(saved, now); err != nil {
		t.Errorf("Verify of the untouched plan: %v", err)
	}
}

func TestMismatchErrorMessage(t *testing.T) {
	t.Parallel()
	e := &MismatchError{Address: "evil\x1b[2J", Field: "action", Saved: "delete", Now: "none"}
	const want = `saved plan does not match the plan made now from the manifest and state: "evil\x1b[2J": action is delete in the file, none now`
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant %q", e.Error(), want)
	}
}
