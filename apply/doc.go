// Package apply executes a plan.Plan against Desk and records every finished action in
// the state, so that a crash or kill at any instant leaves a state that the next apply
// can converge from.
//
// Start with Run. It works in four phases, each a barrier for the next (SPEC §4):
//
//  1. cleanups left by an interrupted apply: a pending upload is adopted when Desk shows
//     it active with exactly the content the plan wants, otherwise its temp file is
//     deleted; deposed files are deleted;
//  2. uploads (creates and the new halves of replaces), with Options.Parallelism Desk
//     requests in flight;
//  3. in-place updates (PATCH of filename and disposition);
//  4. deletes: plain deletes and the old halves of replaces, which were moved to the
//     state's deposed list the moment their successor became active.
//
// An attachment therefore never goes missing: the old file of a replace is only deleted
// once the new one is active, and not at all when the upload fails.
//
// State writes are serialized behind one mutex and saved after every finished action
// through state.Store (which bumps the serial); actions that finish while a save is being
// written share the next one (group commit), and an action counts as finished only once
// a save holding it is durable. A failing action does not stop the
// others; it is listed in Result.Failures. A failing Save does stop new work, because
// the state could no longer record it.
//
// apply talks to Desk only through the small Desk interface declared here
// (*desk.Client satisfies it) and reports progress through the Progress interface,
// which package view implements as plain lines, live bars and NDJSON. Retries, backoff
// and rate-limit pacing are the desk client's job, not this package's; the one retry
// apply does itself is a fresh ref after an expired S3 upload policy, because only the
// caller of CreateRef can get a new one.
//
// What apply leaves to others: planning and staleness checks (package plan), taking the
// state lock and loading the state (the caller, with state.Store), and rendering.
package apply
