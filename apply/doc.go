// Package apply executes a plan.Plan against Desk and records every step in the state,
// so that a crash or kill at any instant leaves a state the next apply converges from.
//
// Start with Run. It works in four phases, each a barrier for the next (docs/upload.md):
// cleanups left by an interrupted apply (a pending upload is adopted when Desk shows it
// active with exactly the wanted content, else its temp file is deleted; deposed files
// are deleted); uploads; in-place updates and moves; deletes, the old halves of
// replaces last. An attachment therefore never goes missing.
//
// Actions run concurrently, Options.Parallelism Desk requests at a time. One goroutine
// owns the state: an action sends it the mutations of a step and waits until the
// store has made them durable before its next Desk request. Before any DELETE, apply
// GETs the file and checks it against the state's record (SECURITY.md).
//
// Retries, backoff and rate-limit pacing are the desk client's job; the one retry apply
// does itself is a fresh ref after an expired S3 upload policy, since only the caller
// of CreateRef can get a new one. Planning, locking and rendering are left to plan, the
// caller and view.
package apply
