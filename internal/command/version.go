package command

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// The release build stamps these with -ldflags "-X …" (see scripts/release): a binary
// built from a clean tag with -buildvcs=false and -trimpath carries no VCS settings, yet
// must still say which release and commit it is. They are variables only because -X can
// set nothing else; nothing assigns them at run time.
var (
	stampedVersion string
	stampedCommit  string
)

type versionCmd struct {
	Format string `enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (c *versionCmd) Help() string {
	return `Prints the module version (a release tag such as v1.3.0; "(devel)" for a build from
a work tree), the commit it was built from ("unknown" when the build recorded none),
and the Go version and platform. "desksync --version" prints the same line.

--format json prints one object for scripts:
  {"version","commit","modified","go","os","arch"}`
}

func (c *versionCmd) Run(t *terminal) error {
	b := describeBuild(buildInfo(), stampedVersion, stampedCommit)
	if c.Format == "json" {
		out, err := json.Marshal(b)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(t.stdout, "%s\n", out)
		return err
	}
	fmt.Fprintln(t.stdout, b.line())
	return nil
}

func (*versionCmd) ignoresWorkspace() {}

// pseudoVersionCommit is the commit at the end of a Go pseudo-version
// (v0.0.0-20261130100000-0123456789ab), which is all "go install …@latest" of an
// untagged commit records: a module from the proxy carries no VCS settings.
var pseudoVersionCommit = regexp.MustCompile(`^v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})(?:\+.*)?$`)

// build is what a binary knows about itself; its JSON form is version --format json.
type build struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

// describeBuild prefers what the release build stamped in, then the module version
// and VCS settings Go recorded, then the commit at the end of a pseudo-version. info is
// nil when the binary carries no build information.
func describeBuild(info *debug.BuildInfo, version, commit string) build {
	b := build{Version: "(devel)", Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if info != nil {
		if info.Main.Version != "" {
			b.Version = info.Main.Version
		}
		if info.GoVersion != "" {
			b.Go = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if commit != "" {
		b.Commit = commit
	}
	if b.Commit == "" {
		if m := pseudoVersionCommit.FindStringSubmatch(b.Version); m != nil {
			b.Commit = m[1]
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// runningVersion is the version a manifest's "desksync:" constraint is checked against.
func runningVersion() string {
	return describeBuild(buildInfo(), stampedVersion, stampedCommit).Version
}

// line describes a build in one line, for bug reports:
//
//	desksync v1.3.0 (commit 0123456789ab; go1.26.8 linux/amd64)
//	desksync (devel) (commit 0123456789ab, modified; go1.26.8 linux/amd64)
func (b build) line() string {
	var s strings.Builder
	fmt.Fprintf(&s, "desksync %s (commit %s", b.Version, b.Commit[:min(12, len(b.Commit))])
	if b.Modified {
		s.WriteString(", modified")
	}
	fmt.Fprintf(&s, "; %s %s/%s)", b.Go, b.OS, b.Arch)
	return s.String()
}

// versionLine is the one line of "desksync version" and "--version".
func versionLine(info *debug.BuildInfo) string {
	return describeBuild(info, stampedVersion, stampedCommit).line()
}
