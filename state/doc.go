// Package state reads, writes and locks desksync.state.json, the file that remembers which
// Desk file ID belongs to which manifest address.
//
// Start with [New] for a fresh state, [Decode] and [State.Encode] for the format,
// [State.Apply] for every change, and [File] (a [Store]) for loading, recording and locking
// a state on disk. Deciding what to change is plan's job and talking to Desk is desk's;
// this package only keeps the record.
//
// # Format
//
// The file is JSON meant to be committed and reviewed: byte for byte what Python's
// json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n" writes, times in UTC,
// so diffs stay small and any tool can re-emit it identically. Decode is strict, because a
// misread state would make apply delete or duplicate Desk files: a newer version is refused
// with a [*VersionError] before anything else is read; malformed JSON, unknown fields, a key
// twice in one object or in another case, a missing lineage, bad ids and digests, and one
// Desk ID on two records are a [*CorruptError] with line:column or the JSON path. Encode
// checks the same rules, so desksync never writes a state it could not read back.
//
// # Crash safety
//
// [File.Append] records the steps of a command in <path>.journal, one checksummed line per
// [Mutation], fsynced before it returns; [File.Compact] and [File.Save] write the whole
// state to a temporary file, fsync it, keep the current file as <path>.backup (a hard
// link), rename the new file over <path>, fsync the folder, and only then remove the
// journal. At every instant <path> is a complete state and the journal holds whole
// batches of steps after it, plus at most a torn last line, which Load ignores. Files that
// could not be decoded are never overwritten: the user keeps the evidence.
// docs/crash-safety.md has the reasoning and the kill points the tests use.
//
// # Locking
//
// Commands that write state hold <path>.lock, created whole by a hard link so exactly one
// process wins. It names its holder ([LockInfo]), so a second writer can say who is in
// the way and whether the holder looks dead (same host, process gone); force-unlock
// ([File.ForceUnlock]) refuses a holder that is alive.
package state
