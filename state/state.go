package state

import (
	"context"
	"time"
)

// Version is the state format version this build writes; it reads this one and 1, which
// lacked the filename and size of pending and deposed records.
const Version = 2

// State is the desksync.state.json document: which Desk file belongs to which address.
// The fields of State and its records are declared in the order of their JSON names,
// which is the order Encode writes them in.
type State struct {
	Attachments map[string]*Attachment `json:"attachments"`
	Deposed     []Deposed              `json:"deposed,omitempty"`
	Lineage     string                 `json:"lineage"`
	Pending     map[string]*Pending    `json:"pending,omitempty"`
	Serial      int64                  `json:"serial"`
	Site        string                 `json:"site"`
	Version     int                    `json:"version"`
}

// Attachment is an active Desk file that desksync manages for one address.
type Attachment struct {
	Blake3      string    `json:"blake3"`
	Disposition string    `json:"disposition"`
	Filename    string    `json:"filename"`
	ID          int64     `json:"id"`
	MimeType    string    `json:"mimeType"`
	Size        int64     `json:"size"`
	State       string    `json:"state"`
	Type        string    `json:"type"`
	UploadedAt  time.Time `json:"uploadedAt"`
}

// Pending is an upload whose ref (temp file) exists on Desk but was not yet activated.
// It is recorded before the S3 POST so that a crash never leaves an untracked file on Desk.
type Pending struct {
	Blake3 string `json:"blake3"`
	// Filename and Size are what the ref was made with, so a cleanup can check the Desk
	// file before deleting it. A record from a version 1 state has neither.
	Filename  string    `json:"filename,omitempty"`
	ID        int64     `json:"id"`
	Size      int64     `json:"size,omitzero"`
	StartedAt time.Time `json:"startedAt"`
}

// Deposed is the old Desk file of a replace, kept from the moment its successor is active
// until its DELETE succeeds.
type Deposed struct {
	Address string `json:"address"`
	// Filename and Size are the deposed file's, as recorded while it was active, so its
	// DELETE can be checked against Desk first. A record from a version 1 state has neither.
	Filename string    `json:"filename,omitempty"`
	ID       int64     `json:"id"`
	Since    time.Time `json:"since"`
	Size     int64     `json:"size,omitzero"`
}

// LockInfo describes who holds the state lock; it is the content of <state>.lock.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"`
	PID       int       `json:"pid"`
	Created   time.Time `json:"created"`
}

// Store loads, records and locks one state: a file (File) or an object store. apply does
// not know which; statetest.Run is the contract every Store passes.
type Store interface {
	// Load returns the stored state with every recorded step applied, or ErrNotExist when
	// there is none yet. Damage it cannot read past is a *CorruptError (newer format: a
	// *VersionError), and the store then refuses every write.
	Load(ctx context.Context) (*State, error)
	// Save bumps s.Serial by one and writes s whole, atomically, keeping the previous
	// state as a backup; steps Append recorded before are superseded.
	Save(ctx context.Context, s *State) error
	// Lock takes the lock for info.Operation, waiting while ctx allows; it returns the
	// lock ID or a *LockedError naming the holder.
	Lock(ctx context.Context, info LockInfo) (string, error)
	// Append makes muts durable before it returns: s already has them applied
	// (State.Apply), and s.Serial grows by len(muts) once they are stored. The batch is
	// loaded whole or not at all. Its cost must not grow with the size of the state:
	// apply calls it between two Desk requests. When the store holds no state yet, or
	// not s's predecessor (another lineage or serial), it writes s whole instead.
	Append(ctx context.Context, s *State, muts []Mutation) error
	// Compact writes s whole without changing s.Serial and drops what Append recorded;
	// every command that wrote calls it before it exits, so that the state is one plain
	// document again (git and the merge driver see nothing else).
	Compact(ctx context.Context, s *State) error
	// Unlock releases the lock with the given ID.
	Unlock(id string) error
}
