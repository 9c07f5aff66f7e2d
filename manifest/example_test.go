package manifest_test

import (
	"reflect"
	"testing"

	"github.com/desksync/desksync/manifest"
)

// TestExampleBasic keeps examples/basic loadable and its README's table true.
func TestExampleBasic(t *testing.T) {
	t.Parallel()
	m, err := manifest.Load("../examples/basic/desksync.yaml", manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []brief{
		{"docs/faq.md", "faq.md", "attachment", "attachment", "text/markdown"},
		{"docs/guide.pdf", "Getting started.pdf", "attachment", "attachment", "application/pdf"},
		{"help/img/icons/check.svg", "check.svg", "attachment-inline", "attachment", "image/svg+xml"},
		{"help/img/icons/status/warning.svg", "warning.svg", "attachment-inline", "attachment", "image/svg+xml"},
		{"help/img/screens/inbox.svg", "inbox-screenshot.svg", "attachment-inline", "attachment", "image/svg+xml"},
		{"images/logo.png", "logo.png", "attachment-inline", "attachment", "image/png"},
	}
	if got := briefs(m.Entries); !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got: %+v\nwant: %+v", got, want)
	}
}
