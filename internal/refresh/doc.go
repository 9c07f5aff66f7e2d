// Package refresh reads Desk back: it finds drift between the state file and the
// Desk files it records, adopts existing Desk files into the state (import), and
// fetches live content for the diffs of `plan --diff`.
//
// Start with Run: it GETs every tracked file, with a bounded number at once, and
// returns a Report holding a refreshed copy of the state and the Drift it found. The
// copy answers the question "what would plan do if the state knew what Desk knows":
//
//   - a file gone from Desk (404, or state "deleted") is dropped from the attachments,
//     so the plan creates it again;
//   - a filename or disposition changed on Desk is recorded with Desk's value, so the
//     plan updates it back to the manifest's;
//   - a size changed on Desk is recorded with Desk's size and the blake3 UnknownBlake3,
//     so the content counts as changed and the plan replaces the file.
//
// Report.Notes gives the drift as plan.Options.Drift notes, so a plan names why it
// plans what nobody changed in git. `desksync refresh` saves the copy (under the state
// lock); `plan --refresh` only plans with it.
//
// Import records an existing Desk file for a manifest entry; Diffs fills in
// plan.Change.Diff from the live content. Pacing, retries and rate limits are the Desk
// client's business: this package only bounds how many reads run at once.
//
// docs/drift.md explains the decisions.
package refresh
