package apply_test

import (
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

// TestRunRefusesSerialOverflow applies a state whose serial leaves no room for the run's
// steps: Run refuses before its first Desk request, so no file is uploaded that the
// state could not then record. A state with room applies as usual.
func TestRunRefusesSerialOverflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.write(map[string]string{"a.txt": "alpha\n", "b.txt": "beta\n"})
	m := e.manifest("  - path: a.txt\n  - path: b.txt\n")
	e.st.Serial = state.MaxSerial - 5
	res, err := e.run(m, nil)
	if err == nil || res != nil || !strings.Contains(err.Error(), "state serial 9007199254740987 is too close to 9007199254740992 (2^53)") ||
		!strings.Contains(err.Error(), "nothing was changed on Desk") {
		t.Fatalf("Run = %+v, %v; want it refused before any request", res, err)
	}
	if h := hint.Of(err); len(h) != 1 || !strings.Contains(h[0], "restore the state") {
		t.Errorf("hint = %q", h)
	}
	if reqs := e.srv.Requests(); len(reqs) > 0 {
		t.Errorf("Desk received %d requests: %+v", len(reqs), reqs)
	}
	if _, err := e.store.Load(t.Context()); err == nil {
		t.Errorf("a state was written")
	}

	e.st.Serial = state.MaxSerial - 1000
	if res := e.mustRun(m); res.Created != 2 {
		t.Errorf("with room: %+v", res)
	}
	if e.st.Serial <= state.MaxSerial-1000 || e.st.Serial > state.MaxSerial {
		t.Errorf("serial after the run = %d", e.st.Serial)
	}
}
