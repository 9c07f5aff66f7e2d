package plan

import (
	"context"
	"reflect"
	"testing"

	"github.com/desksync/desksync/state"
)

// TestComputeDriftNotes checks that Options.Drift notes lead the Reasons of their
// address's change and that notes for addresses without a change are dropped.
func TestComputeDriftNotes(t *testing.T) {
	t.Parallel()
	logo := file{addr: "images/logo.png", content: "logo v1"}
	remote := tracked(1, logo)
	remote.Filename = "renamed.png" // as refresh records a remote rename
	same := file{addr: "z/same.txt", content: "same"}
	m := mkManifest(t, logo, same)
	st := mkState(map[string]*state.Attachment{"images/logo.png": remote, "z/same.txt": tracked(2, same)})
	notes := map[string][]string{
		"images/logo.png": {`filename changed on Desk: "logo.png" -> "renamed.png"`},
		"z/same.txt":      {"a note for an address with no change"},
	}
	p, err := Compute(context.Background(), m, st, Options{Drift: notes})
	if err != nil {
		t.Fatal(err)
	}
	want := []wantChange{{"images/logo.png", Update, []string{
		`filename changed on Desk: "logo.png" -> "renamed.png"`,
		`filename: "renamed.png" -> "logo.png"`,
	}}}
	var got []wantChange
	for _, c := range p.Changes {
		got = append(got, wantChange{c.Address, c.Action, c.Reasons})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n got %+v\nwant %+v", got, want)
	}
	if len(notes["images/logo.png"]) != 1 {
		t.Errorf("Compute changed the caller's notes: %q", notes["images/logo.png"])
	}
}
