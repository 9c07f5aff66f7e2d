package gitstate

import (
	"fmt"
	"strings"
)

// ConcurrentWriteError reports a push refused because REF is no longer the commit this run read
// or wrote: someone else moved it. Nothing on the server was overwritten; the commit this
// run meant to push is kept on a local ref.
type ConcurrentWriteError struct {
	Location string // git:REMOTE:REF
	Remote   string
	Ref      string
	Commit   string // the refused commit, kept on Kept
	Kept     string // the local ref that keeps Commit
	Reason   string // git's reason, such as "stale info" or "fetch first"
}

func (e *ConcurrentWriteError) Error() string {
	return fmt.Sprintf("%s was changed by someone else since this run read it; not overwriting it (push of %s refused: %s)", e.Location, e.Commit, e.Reason)
}

// Hint tells the user how to recover what this run wrote.
func (e *ConcurrentWriteError) Hint() string {
	return fmt.Sprintf("what this run recorded is kept in this repository as %s; "+
		"save it with \"git show %s:%s > run.state.json\" (and %s, if there is one), look at the state on the server with \"desksync state pull\", "+
		"then merge the two with \"desksync state merge\" and put the result back with \"desksync state push\"",
		e.Kept, e.Kept, stateFile, journalFile)
}

// GitError reports a git command that failed for another reason than a refused push: the
// remote unreachable, credentials refused, no repository.
type GitError struct {
	Location string
	Op       string   // what was being done, e.g. "reading the state"
	Args     []string // git's arguments
	Stderr   string   // what git said, trimmed
	Err      error
}

func (e *GitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: %s: git %s: %s", e.Location, e.Op, firstArg(e.Args), msg)
}

func (e *GitError) Unwrap() error { return e.Err }

// Hint tells the user what to check.
func (e *GitError) Hint() string {
	return "run desksync inside a clone of the repository whose remote keeps the state, and check that \"git fetch\" and \"git push\" to that remote work there (credentials, network); nothing on the server was changed by this command"
}

func firstArg(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}
