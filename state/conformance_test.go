package state_test

import (
	"path/filepath"
	"testing"

	"github.com/desksync/desksync/state"
	"github.com/desksync/desksync/state/statetest"
)

func TestFileConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store {
		return state.NewFile(filepath.Join(t.TempDir(), "desksync.state.json"))
	})
}
