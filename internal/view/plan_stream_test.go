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
