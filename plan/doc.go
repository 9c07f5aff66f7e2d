// Package plan compares a manifest with the state and says what apply would do.
//
// Start with Compute: it hashes every local file with BLAKE3 (Hash, streamed, a pool
// of workers) and returns a *Plan whose Changes follow the action table of SPEC §3 —
// Create, Update (only filename or disposition differ: a PATCH in place), Replace
// (content, mimeType or type differ: a new upload, then the old file deleted), Delete
// — sorted by address, each with human-readable Reasons. Pending and deposed entries
// left in the state by an interrupted apply become Cleanups.
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
// holds no credential. Before applying one, CheckStale compares it with the current
// state and files and returns a *StaleError (errors.Is(err, ErrStale)) naming why it
// can no longer be applied.
//
// This package prints nothing: package view renders plans, package apply executes them.
package plan
