package gitstate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/desksync/desksync/state"
)

// entry is one line of the journal: a mutation and the serial it brings the state to.
type entry struct {
	Lineage  string         `json:"lineage"`
	Serial   int64          `json:"serial"`
	Mutation state.Mutation `json:"mutation"`
}

// replay applies the journal to st, which the same commit holds. The journal was pushed
// with the state in one commit, so a gap, another lineage or a step that does not apply is
// damage, refused as a corrupt state; path names the journal in errors.
func replay(st *state.State, journal []byte, path string) error {
	dec := json.NewDecoder(bytes.NewReader(journal))
	dec.DisallowUnknownFields()
	for line := 1; dec.More(); line++ {
		bad := func(format string, args ...any) error {
			return &state.CorruptError{Path: path, Line: line, Journal: true, Msg: fmt.Sprintf(format, args...)}
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return bad("%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		switch {
		case e.Lineage != st.Lineage:
			return bad("lineage %q is not the state's %q", e.Lineage, st.Lineage)
		case e.Serial != st.Serial+1:
			return bad("step %d follows serial %d", e.Serial, st.Serial)
		}
		if err := st.Apply(e.Mutation); err != nil {
			return bad("step %d: %v", e.Serial, err)
		}
		st.Serial = e.Serial
	}
	if _, err := st.Encode(); err != nil {
		return fmt.Errorf("%s: the journal leaves an invalid state: %w", path, err)
	}
	return nil
}
