package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/desksync/desksync/plan"
)

// writeSizes records the size of every Write.
type writeSizes struct {
	bytes.Buffer
	largest int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.largest = max(w.largest, len(p))
	return w.Buffer.Write(p)
}

// TestPlanJSONWrittenAsItGoes: a large JSON plan reaches the writer in pieces, never
// as one document, and its bytes are exactly those of encoding the document whole.
func TestPlanJSONWrittenAsItGoes(t *testing.T) {
	t.Parallel()
	p := fullPlan()
	for i := range 3000 {
		p.Changes = append(p.Changes, plan.Change{Address: fmt.Sprintf("bulk/f%05d.bin", i), Action: plan.Create,
			After:   &plan.Attrs{Filename: "f.bin", MimeType: "application/octet-stream", Disposition: "attachment", Type: "attachment", Size: 100, Blake3: hashA},
			Reasons: []string{"new file, 100 B"}})
	}
	var w writeSizes
	if err := RenderPlan(&w, p, "json", PlanOptions{State: "desksync.state.json"}); err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	doc := PlanDocument(p)
	doc.State = "desksync.state.json"
	enc := json.NewEncoder(&whole)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), whole.Bytes()) {
		t.Fatalf("streamed JSON differs from the whole document's encoding (%d vs %d bytes)", w.Len(), whole.Len())
	}
	if w.Len() < 1<<20 || w.largest > 64<<10 {
		t.Errorf("a %d-byte plan came in a write of %d bytes, want pieces of at most 64 KiB", w.Len(), w.largest)
	}
}

// encodeChange is a change as encoding/json writes it in the plan document.
func encodeChange(t testing.TB, c plan.Change) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// changeJSONStrings are what a pull request or a state can put in a change's strings.
var changeJSONStrings = []string{"", "a.png", `"q" \ b`, "\b\f\n\r\t\x00\x1f\x7f", "\xff\xfe", "\u2028\u2029\u202e",
	"<a href='x'>&</a>", "##", "\U0001F600 é", "::error::x"}

func TestChangeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	var cases []plan.Change
	for i, s := range changeJSONStrings {
		attrs := &plan.Attrs{ID: int64(i), Filename: s, MimeType: s, Disposition: s, Type: s, Size: int64(i) - 1, Blake3: s}
		for _, a := range []plan.Action{plan.Create, plan.Update, plan.Replace, plan.Delete, plan.Move, plan.NoOp} {
			cases = append(cases,
				plan.Change{Address: s, PreviousAddress: s, Action: a, Before: attrs, After: attrs, Reasons: []string{s, s}, Diff: s},
				plan.Change{Address: s, Action: a, After: attrs, Reasons: []string{}},
				plan.Change{Address: s, Action: a, Before: attrs},
			)
		}
	}
	for _, c := range cases {
		got, err := appendChange(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeChange(t, c); !bytes.Equal(got, want) {
			t.Fatalf("appendChange(%+v) =\n%s\nwant\n%s", c, got, want)
		}
	}
}

func FuzzChangeJSON(f *testing.F) {
	for _, s := range changeJSONStrings {
		f.Add(s, s, int64(1), "new file")
	}
	f.Fuzz(func(t *testing.T, addr, name string, id int64, reason string) {
		c := plan.Change{Address: addr, PreviousAddress: name, Action: plan.Move, Reasons: []string{reason},
			Before: &plan.Attrs{ID: id, Filename: name, Size: id}, After: &plan.Attrs{Filename: addr, Blake3: reason}}
		got, err := appendChange(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeChange(t, c); !bytes.Equal(got, want) {
			t.Fatalf("appendChange = %s, want %s", got, want)
		}
	})
}
