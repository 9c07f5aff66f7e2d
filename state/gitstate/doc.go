// Package gitstate keeps a desksync state on a git ref of the repository's own remote: the
// third implementation of [state.Store], for pipelines that must not commit to the branch
// they deploy (branch protection untouched) and for pull requests from forks, which can
// still fetch the ref and plan.
//
// Start with [Open], which takes a location git:REF or git:REMOTE:REF (REMOTE is origin
// when left out). desksync runs the git command the runner already has, in the working
// repository, so that the remote's URL, credentials and transport are the runner's own; it
// links no git library.
//
// # Refs
//
//	REF        a commit whose tree holds desksync.state.json (the file format, byte for
//	           byte) and, between compactions, desksync.state.journal (one step a line);
//	           its parent is the commit it replaced, so the history is the backup
//	REF-lock   the lock: a commit whose tree holds lock.json, the same JSON as
//	           <state>.lock; created only if absent, deleted on release
//
// # Consistency
//
// Every read is git fetch --depth=1 of REF; every write is a new commit pushed with
// --force-with-lease=REF:<the commit last read or written> (an empty lease when REF does
// not exist yet), so a ref that anyone else moved is never overwritten: the push is
// refused, the commit is kept on a local ref, and the error is a [*ConcurrentWriteError] that says
// how to recover it. The lock ref is pushed with an empty lease, which the server accepts
// only when the ref does not exist. Steps and the state they follow are in one commit, so
// a reader never sees one without the other.
//
// # Durability
//
// Append returns once the server has accepted the push holding its steps: a step is on
// the server when Append returns, and a runner killed whole (workspace and all) loses no
// step that Append returned for. What it can lose is the request in flight: an upload ref
// Desk created whose pending record had not reached the server yet, at most one per
// upload running at the time (--parallelism). See docs/gitstate.md.
package gitstate
