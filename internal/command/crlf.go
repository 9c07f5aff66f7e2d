package command

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/plan"
)

// maxCRLFChecked bounds how many changed files the line-ending check asks git about:
// one example is enough for the warning, and the command line stays short on Windows.
const maxCRLFChecked = 500

// crlfWarning explains a plan that replaces attachments only because git converted
// their line endings on checkout (core.autocrlf, the default of Git for Windows, or a
// text/eol attribute): desksync uploads the bytes in the work tree, so every clone
// with another setting would plan them again. It asks git only when the plan replaces
// content, so a plan with nothing to warn about costs nothing more; it says nothing
// when git is missing or the folder is not a work tree. gitCmd is the git to run.
func crlfWarning(ctx context.Context, gitCmd, root string, p *plan.Plan) string {
	var paths []string
	for _, c := range p.Changes {
		if c.Action != plan.Replace || !contentChanged(c.Reasons) {
			continue
		}
		paths = append(paths, c.Address)
		if len(paths) == maxCRLFChecked {
			break
		}
	}
	if len(paths) == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	args := append([]string{"--literal-pathspecs", "-C", root, "ls-files", "--eol", "-z", "--"}, paths...)
	out, err := exec.CommandContext(ctx, gitCmd, args...).Output()
	if err != nil {
		return ""
	}
	var converted []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		// "i/lf    w/crlf  attr/text=auto eol=crlf\tPATH"
		info, path, ok := bytes.Cut(rec, []byte{'\t'})
		if !ok {
			continue
		}
		f := strings.Fields(string(info))
		if len(f) >= 2 && f[0] == "i/lf" && (f[1] == "w/crlf" || f[1] == "w/mixed") {
			converted = append(converted, string(path))
		}
	}
	if len(converted) == 0 {
		return ""
	}
	return fmt.Sprintf("%d changed attachment(s) have CRLF line endings in this work tree but LF in git, e.g. %s: git converted them on checkout (core.autocrlf or a text/eol attribute), and desksync uploads the bytes on disk; "+
		`add "-text" lines for the attachments to .gitattributes (e.g. "docs/** -text"; desksync init writes them), commit it, then check the files out again: git rm --cached -r -q . && git reset --hard`,
		len(converted), quote.Text(converted[0]))
}

func contentChanged(reasons []string) bool {
	for _, r := range reasons {
		if strings.HasPrefix(r, "content changed") {
			return true
		}
	}
	return false
}
