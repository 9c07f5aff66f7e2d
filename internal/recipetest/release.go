package recipetest

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/desksync/desksync/internal/releasetest"
)

// harness is the desksync of this test binary (testscript puts it on the test
// process's PATH) and the jobs' PATH, which leaves out every folder holding a
// desksync: a job finds desksync only where the recipe installed it, so a recipe or
// an action that installs none fails.
var harness struct {
	once       sync.Once
	desksync   string
	path, curl string
	err        error
}

func findHarness() error {
	harness.once.Do(func() {
		p, err := exec.LookPath("desksync")
		if err != nil {
			harness.err = fmt.Errorf("recipetest runs from a test binary whose TestMain puts desksync on PATH (testscript.Main): %v", err)
			return
		}
		if harness.desksync, err = filepath.Abs(p); err != nil {
			harness.err = err
			return
		}
		var keep []string
		for _, d := range filepath.SplitList(os.Getenv("PATH")) {
			if fi, err := os.Stat(filepath.Join(d, "desksync")); err == nil && !fi.IsDir() {
				continue
			}
			keep = append(keep, d)
		}
		harness.path = strings.Join(keep, string(os.PathListSeparator))
		if harness.curl, err = exec.LookPath("curl"); err != nil {
			harness.err = fmt.Errorf("recipetest needs curl on PATH, as the CI runner images have it: the recipes download desksync with it")
		}
	})
	return harness.err
}

// jobPath is the test process's PATH without any desksync.
func jobPath() string { return harness.path }

// releaseServer serves any release tag the way GitHub lays a release out: the linux
// archives of the release build's names, each holding a desksync that runs this
// test binary (the CLI of the tree under test), and their SHA256SUMS. Only
// /releases/latest is unknown, since the recipes pin a tag. While tamper returns
// true, the archives differ from what SHA256SUMS says.
func releaseServer(t testing.TB, tamper func() bool) *httptest.Server {
	return releasetest.Serve(t, releasetest.Release{
		Binary:    "#!/bin/sh\nexec '" + harness.desksync + "' \"$@\"\n",
		Platforms: []string{"linux_amd64", "linux_arm64"},
		Tamper:    func(string) bool { return tamper() },
	})
}
