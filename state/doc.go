// Package state reads, writes and locks desksync.state.json, the file that remembers which
// Desk file ID belongs to which manifest address.
//
// Start with [New] for a fresh state, [Decode] and [State.Encode] for the format, and [File]
// (a [Store]) for loading, saving and locking a state on disk. Deciding what to change is
// plan's job and talking to Desk is desk's; this package only keeps the record.
//
// # Format guarantees
//
// The file is JSON meant to be committed and reviewed. [State.Encode] writes every object
// with its keys sorted (by code point) at every level, a two-space indent, no HTML escaping,
// non-ASCII text as UTF-8, times in UTC RFC 3339 and a trailing newline: byte for byte what
// Python's json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n" writes, so
// diffs stay small and any tool can re-emit the file identically. attachments is always
// present; empty pending and deposed are left out.
//
// [Decode] is strict, because a state that is misread would make apply delete or duplicate
// Desk files: a newer version is refused with a [*VersionError] before anything else is read
// (an old desksync must not drop fields it does not know), and malformed or truncated JSON,
// unknown fields, a key twice in one object or in another case (see checkKeys), a missing
// lineage, ids that are not positive, blake3 digests that are not 64
// lowercase hex digits and empty addresses are refused with a [*CorruptError] that carries a
// line:column where encoding/json gives an offset, or the JSON path of the bad value.
// Input above [MaxSize] is refused rather than read into memory. Encode checks the same
// rules, so desksync never writes a state that it could not read back.
//
// # Crash safety
//
// [File.Save] never modifies the state file in place. It writes the new state to a temporary
// file in the same folder, fsyncs and closes it, hard-links (or, where links are not
// supported, copies and fsyncs) the current file to <path>.backup through a temporary name
// and a rename, renames the new file over <path>, and finally fsyncs the folder. A rename
// within one folder is atomic, so at every instant <path> names either the complete old
// state or the complete, already-synced new state; a crash or a failed step leaves the old
// file intact (at worst a stray *.tmp-* file remains). The folder fsync makes the rename
// itself durable before Save returns, so a state that Save reported as written survives
// power loss. A state file that could not be decoded (corrupt, or of a newer version) is
// never overwritten: Save refuses, and the user keeps the evidence.
//
// # Locking
//
// Commands that write state hold <path>.lock, created with O_CREATE|O_EXCL so exactly one
// process wins. It holds a [LockInfo] naming the holder, so a second writer can say who is
// in the way, and whether the holder looks dead (same host, process gone). Waiting is
// polling bounded by the caller's context; a lock left by a killed run is removed with
// desksync force-unlock ID ([File.ForceUnlock]).
package state
