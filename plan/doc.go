// Package plan compares a manifest with the state and says what apply would do.
//
// Start with Compute: it hashes every local file with BLAKE3 (Hash, streamed, a pool
// of workers) and returns a *Plan whose Changes follow the action table of docs/plans.md —
// Create, Update (only filename or disposition differ: a PATCH in place), Replace
// (content, mimeType or type differ: a new upload, then the old file deleted), Delete,
// Move (a gone address's Desk file kept for a new address with the same content) —
// sorted by address, each with human-readable Reasons. Pending and deposed entries
// left in the state by an interrupted apply become Cleanups. A Scope (--target,
// --exclude) limits all of it to some addresses.
//
// # Mass-delete guard
//
// (*Plan).CheckDeletes refuses a plan whose deletes exceed a DeleteLimit (parsed from
// --max-delete by ParseDeleteLimit) with a *MassDeleteError. Compute records the same
// breach in Plan.Warnings so that plan shows what apply will refuse.
//
// # Saved plans
//
// Write and Read keep a plan in a versioned JSON file ({"desksync_plan": 1, …}) that
// holds no credential. A saved plan is untrusted input: before applying one, CheckStale
// compares it with the current state and files (a *StaleError, errors.Is(err,
// ErrStale)), and Verify compares it with the plan Compute makes now (a
// *MismatchError naming the first difference); apply then executes the plan it made.
// The rules are in docs/plans.md.
//
// This package prints nothing: package view renders plans, package apply executes them.
package plan
