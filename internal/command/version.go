package command

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

type versionCmd struct{}

func (c *versionCmd) Help() string {
	return `Prints the module version (a release tag when installed with
"go install github.com/desksync/desksync@vX.Y.Z"), the commit it was built from, and
the Go version and platform. "desksync --version" prints the same line.`
}

func (c *versionCmd) Run(t *terminal) error {
	fmt.Fprintln(t.stdout, versionLine(buildInfo()))
	return nil
}

func (*versionCmd) ignoresWorkspace() {}

// pseudoVersionCommit is the commit at the end of a Go pseudo-version
// (v0.0.0-20261130100000-0123456789ab), which is all "go install …@latest" of an
// untagged commit records: a module from the proxy carries no VCS settings.
var pseudoVersionCommit = regexp.MustCompile(`^v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})(?:\+.*)?$`)

// versionLine describes a build in one line, for bug reports:
//
//	desksync v1.2.0 (go1.26.8 linux/amd64)
//	desksync (devel) (commit 0123456789ab, modified; go1.26.8 linux/amd64)
//
// info is nil when the binary carries no build information.
func versionLine(info *debug.BuildInfo) string {
	version, goVersion := "(devel)", runtime.Version()
	var commit, modified string
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", modified"
				}
			}
		}
	}
	if commit == "" {
		if m := pseudoVersionCommit.FindStringSubmatch(version); m != nil {
			commit = m[1]
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "desksync %s (", version)
	if commit != "" {
		fmt.Fprintf(&b, "commit %s%s; ", commit[:min(12, len(commit))], modified)
	}
	fmt.Fprintf(&b, "%s %s/%s)", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
