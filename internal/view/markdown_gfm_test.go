package view

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/desksync/desksync/plan"
)

// hostilePlan is a plan a fork's pull request can produce: names that would mention users
// and teams, autolinks, issue references, HTML and markdown links, in every place a user's
// string reaches the markdown comment.
func hostilePlan() *plan.Plan {
	evil := "@octocat please approve - www.evil.example"
	team := "@acme/Security.txt"
	attrs := func(name string) *plan.Attrs {
		return &plan.Attrs{ID: 9, Filename: name, MimeType: "text/plain", Disposition: "attachment", Type: "attachment", Size: 1, Blake3: hashC}
	}
	return &plan.Plan{
		Changes: []plan.Change{
			{Address: evil, Action: plan.Create, After: attrs("@octocat https://evil.example/login"), Reasons: []string{"new file, 1 B"}},
			{Address: team, Action: plan.Update, Before: attrs("a.txt"), After: attrs(team),
				Reasons: []string{`filename: "a.txt" -> "@acme/Security.txt [click](https://evil.example) <a href=x>x</a> #1 x@evil.example"`}},
			{Address: "docs/see #12 and acme/repo#3 :+1:.md", Action: plan.Replace, Before: attrs("a.md"), After: attrs("a.md"),
				Reasons: []string{"content changed, 1 B -> 1 B"},
				Diff:    "--- desk\n+++ local\n@@ -1 +1 @@\n-@octocat\n+www.evil.example\n"},
		},
		Cleanups: []plan.Cleanup{{Address: "@acme/leftover <img src=x>.png", ID: 130, Kind: plan.CleanupPending, Blake3: hashC}},
		Warnings: []string{`"@acme/Security.txt" and "@acme/security.txt" differ only by case; see www.evil.example or mailto:a@evil.example`},
		Files:    map[string]plan.FileDigest{},
	}
}

// TestMarkdownRendersInert renders the hostile plan's markdown with cmark-gfm (GitHub's
// own renderer, with its table, autolink and tag-filter extensions) and checks that the
// HTML holds no link at all and, outside code, no mention, autolink or reference: GitHub
// links mentions and references only in text, never inside <code> or <pre>.
func TestMarkdownRendersInert(t *testing.T) {
	t.Parallel()
	cmark, err := exec.LookPath("cmark-gfm")
	if err != nil {
		if os.Getenv("DESKSYNC_LONG_TESTS") == "1" {
			t.Fatal("cmark-gfm is not installed (.ci/run installs it)")
		}
		t.Skip("cmark-gfm is not installed (Debian package cmark-gfm)")
	}
	var md bytes.Buffer
	if err := RenderPlan(&md, hostilePlan(), "markdown", PlanOptions{State: "s3://@acme/www.evil.example/state.json"}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cmark, "--unsafe", "-e", "table", "-e", "autolink", "-e", "tagfilter", "-e", "strikethrough")
	cmd.Stdin = &md
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cmark-gfm: %v", err)
	}
	html := string(out)
	if strings.Contains(html, "<a ") || strings.Contains(html, "<img") {
		t.Errorf("the rendered comment holds a link or an image desksync did not put there:\n%s\n--- markdown ---\n%s", html, md.String())
	}
	text := regexp.MustCompile(`(?s)<code>.*?</code>|<pre>.*?</pre>`).ReplaceAllString(html, "")
	for _, pattern := range []string{`@[A-Za-z0-9]`, `&#64;`, `www\.`, `://`, `#[0-9]`, `:\+1:`} {
		if loc := regexp.MustCompile(pattern).FindStringIndex(text); loc != nil {
			t.Errorf("outside code the rendered comment holds %q (a mention, link or reference on GitHub) at %q:\n%s\n--- markdown ---\n%s",
				pattern, text[max(0, loc[0]-40):min(len(text), loc[1]+40)], html, md.String())
		}
	}
}
