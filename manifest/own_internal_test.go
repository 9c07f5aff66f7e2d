package manifest

import (
	"bytes"
	"testing"
)

func FuzzIsSavedPlan(f *testing.F) {
	for _, s := range []string{
		`{"desksync_plan": 1}`,
		" \n{\"format_version\": \"1\", \"desksync_plan\": 1, \"changes\": []}",
		`{"a": {"desksync_plan": 1}}`,
		`["desksync_plan"]`,
		`{"a": "` + string(bytes.Repeat([]byte("x"), planMarkerWindow)) + `", "desksync_plan": 1}`,
		`{"desksync_plan"`,
		"{\"desksync_plan\\u0000\": 1}",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if isSavedPlan(head) && (!bytes.Contains(head, []byte("desksync_plan")) && !bytes.Contains(head, []byte(`\u`))) {
			t.Fatalf("isSavedPlan(%q) without the marker", head)
		}
	})
}

func TestIsSavedPlan(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		head string
		want bool
	}{
		{`{"desksync_plan": 1, "changes": []}`, true},
		{"\n\t {\"format_version\": \"1\", \"desksync_plan\": 1}", true},
		{`{"changes": [], "desksync_plan": 1}`, true},
		{`{"meta": {"desksync_plan": 1}}`, false},
		{`["desksync_plan"]`, false},
		{`{"note": "desksync_plan"}`, false},
		{`desksync_plan`, false},
		{``, false},
	} {
		if got := isSavedPlan([]byte(tt.head)); got != tt.want {
			t.Errorf("isSavedPlan(%q) = %v, want %v", tt.head, got, tt.want)
		}
	}
}
