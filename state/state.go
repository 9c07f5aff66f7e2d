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

// Store loads, saves and locks one state. A file today; a remote store later must not
// touch apply.
type Store interface {
	// Load returns the stored state, or ErrNotExist when there is none yet.
	Load(ctx context.Context) (*State, error)
	// Save bumps s.Serial by one and writes s atomically, keeping the previous good
	// state as a backup.
	Save(ctx context.Context, s *State) error
	// Lock takes the lock for info.Operation, waiting while ctx allows; it returns the
	// lock ID or a *LockedError naming the holder.
	Lock(ctx context.Context, info LockInfo) (string, error)
	// Append makes muts durable: s already has them applied (State.Apply), and each one
	// bumps s.Serial by one. It is what apply calls between two Desk requests, so its
	// cost must not grow with the size of the state.
	Append(ctx context.Context, s *State, muts []Mutation) error
	// Compact writes s whole and drops what Append recorded since, without changing
	// s.Serial; a command that wrote calls it before it exits.
	Compact(ctx context.Context, s *State) error
	// Unlock releases the lock with the given ID.
	Unlock(id string) error
}
