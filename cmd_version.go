package main

import (
	"fmt"
	"runtime/debug"
)

type versionCmd struct{}

func (c *versionCmd) Run(t *terminal) error {
	version, revision := "(devel)", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				revision = " " + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(t.stdout, "desksync %s%s\n", version, revision)
	return nil
}
