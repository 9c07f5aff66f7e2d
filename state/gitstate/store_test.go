package gitstate_test

import (
	"testing"

	"github.com/desksync/desksync/internal/gittest"
	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/gitstate"
	"github.com/desksync/desksync/state/statetest"
)

// open returns a Store for ref in a fresh clone of url.
func open(t *testing.T, url, location string) *gitstate.Store {
	t.Helper()
	st, err := gitstate.Open(location, gitstate.Options{Dir: gittest.Clone(t, url)})
	if err != nil {
		t.Fatalf("Open(%s): %v", location, err)
	}
	return st
}

func TestConformance(t *testing.T) {
	gittest.Isolate(t)
	for _, tr := range gittest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			srv := gittest.New(t, tr)
			statetest.Run(t, func(t *testing.T) state.Store {
				return open(t, srv.NewRepo(t), "git:refs/desksync/state")
			})
		})
	}
}
