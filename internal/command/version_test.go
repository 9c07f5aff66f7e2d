package command

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	t.Parallel()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name            string
		info            *debug.BuildInfo
		version, commit string // stamped by the release build
		want            string
	}{
		{"no build info", nil, "", "", "desksync (devel) (commit unknown; " + runtime.Version() + " " + platform + ")"},
		{
			"a release installed with go install @v1.2.0",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}}, "", "",
			"desksync v1.2.0 (commit unknown; go1.26.8 " + platform + ")",
		},
		{
			"an untagged commit installed with go install @latest",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261130100000-0123456789ab"}}, "", "",
			"desksync v0.0.0-20261130100000-0123456789ab (commit 0123456789ab; go1.26.8 " + platform + ")",
		},
		{
			"a pseudo-version after a tag",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.1-0.20261130100000-0123456789ab+dirty"}}, "", "",
			"desksync v1.2.1-0.20261130100000-0123456789ab+dirty (commit 0123456789ab; go1.26.8 " + platform + ")",
		},
		{
			"a build in a modified checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "fedcba9876543210fedcba9876543210fedcba98"},
				{Key: "vcs.modified", Value: "true"},
			}}, "", "",
			"desksync (devel) (commit fedcba987654, modified; go1.26.8 " + platform + ")",
		},
		{
			"a release build: -buildvcs=false, version and commit stamped",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"v1.3.0", "0123456789abcdef0123456789abcdef01234567",
			"desksync v1.3.0 (commit 0123456789ab; go1.26.8 " + platform + ")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeBuild(tt.info, tt.version, tt.commit).line(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
