package plan

import "time"

// Attrs are the attributes of one attachment as planned or as recorded in state. ID
// is the Desk file a change acts on: in Before, and in the After of an Update or a
// Move, which keep that file.
type Attrs struct {
	ID          int64  `json:"id,omitempty"`
	Filename    string `json:"filename"`
	MimeType    string `json:"mimeType"`
	Disposition string `json:"disposition"`
	Type        string `json:"type"`
	Size        int64  `json:"size"`
	Blake3      string `json:"blake3"`
}

// Change is the planned action for one address.
//
// Before is the state's record (nil for Create; for a Move, the record at
// PreviousAddress); After is the manifest's desired attributes with the local file's
// size and hash (nil for Delete). Reasons are for people, e.g. `filename: "a.png" ->
// "b.png"`.
type Change struct {
	Address string `json:"address"`
	// PreviousAddress is the address whose Desk file a Move keeps.
	PreviousAddress string   `json:"previous_address,omitempty"`
	Action          Action   `json:"action"`
	Before          *Attrs   `json:"before"`
	After           *Attrs   `json:"after"`
	Reasons         []string `json:"reasons"`
	// Diff is filled in by `plan --diff`; it is for reading only.
	Diff string `json:"diff,omitempty"`
}

// CleanupKind says which leftover of an interrupted apply a Cleanup settles.
type CleanupKind string

// Cleanup kinds.
const (
	// CleanupPending is an upload whose temp file was created but never activated.
	CleanupPending CleanupKind = "pending"
	// CleanupDeposed is the old file of a replace whose DELETE has not yet succeeded.
	CleanupDeposed CleanupKind = "deposed"
)

// Cleanup is leftover work from an interrupted apply that the next apply does first:
// a pending temp file to check and remove (or adopt), or a deposed file to delete.
type Cleanup struct {
	Address string      `json:"address"`
	ID      int64       `json:"id"`
	Kind    CleanupKind `json:"kind"`
	Blake3  string      `json:"blake3,omitempty"`
	// Filename and Size are what the state recorded for the Desk file, so apply can
	// check the file is still that one before deleting it; empty in a version 1 state.
	Filename string    `json:"filename,omitempty"`
	Size     int64     `json:"size,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

// FileDigest is what a plan used of one local file, so apply can tell a stale plan.
type FileDigest struct {
	Size   int64  `json:"size"`
	Blake3 string `json:"blake3"`
}

// Plan is the result of Compute: every non-no-op change sorted by address, plus what
// apply needs to refuse it once it is stale.
type Plan struct {
	Changes  []Change  `json:"changes"`
	Cleanups []Cleanup `json:"cleanups,omitempty"`
	// Warnings are shown by plan and enforced by apply (e.g. the mass-delete guard).
	Warnings []string `json:"warnings,omitempty"`

	// StateExists is false when the plan was made with no state file; such a plan is
	// stale once any state exists.
	StateExists bool                  `json:"stateExists"`
	Lineage     string                `json:"lineage,omitempty"`
	Serial      int64                 `json:"serial"`
	Files       map[string]FileDigest `json:"files"`
	// Tracked is how many addresses the state tracked, for percentage delete limits.
	Tracked int `json:"tracked"`
	// ManifestDigest is a BLAKE3 over every entry's address and desired attributes
	// (filename, disposition, type, mimeType), so a saved plan is stale once the
	// manifest asks for something else even where the file bytes did not change.
	ManifestDigest string `json:"manifestDigest"`

	Scope Scope `json:"scope,omitzero"`
	// Replace lists the addresses replaced with --replace whatever the hashes say;
	// apply of a saved plan makes the plan again with them.
	Replace []string `json:"replace,omitempty"`
	// Refreshed says Desk was read before planning (--refresh): without it the plan
	// compares the manifest with the state only.
	Refreshed bool `json:"refreshed,omitempty"`
	// Made lets `apply FILE` plan again from the same inputs and limits.
	Made Made `json:"madeWith,omitzero"`
}

// Made records the inputs and limits of the command that made a plan. Paths are as
// given, relative to the working directory where they lie inside it.
type Made struct {
	Manifest string `json:"manifest,omitempty"`
	State    string `json:"state,omitempty"`
	Sandbox  bool   `json:"sandbox,omitempty"`
	// Site is checked by apply, never used to connect: that would send the key to
	// a host an untrusted file names.
	Site        string `json:"site,omitempty"`
	MaxDelete   string `json:"maxDelete,omitempty"`
	MaxFileSize int64  `json:"maxFileSize,omitempty"`
}
