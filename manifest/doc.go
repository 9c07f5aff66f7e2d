// Package manifest reads desksync.yaml into the list of attachments desksync manages.
//
// Start with Load, which returns a *Manifest whose Entries (one per address, sorted)
// are what plan compares with the state. Parse is the pure half of Load (syntax and
// schema, no file system) and is what the fuzz test drives. Plan and apply open files
// only through (*Manifest).Open. Hashing, state and Desk are other packages' business.
//
// # Errors
//
// Every problem is an *Error printing FILE:LINE:COL: FIELD: MSG, FILE as the user named
// the manifest and FIELD a dotted path such as attachments[2].disposition (indexes
// start at 0). Its Hint method gives the remedy. Load and Parse return an ErrorList of
// every problem found, in file order, so a reviewer sees them all at once (its Error
// text lists the first MaxErrorsShown and counts the rest). yaml.v3 gives only a line
// for YAML syntax errors (and none when the problem is on the first line, which is then
// reported as line 1, or the line where an unfinished list or mapping began); the place
// is found by re-parsing cuts of the document (see syntaxPosition), and where that search
// gives up the error prints FILE:LINE: invalid YAML: MSG.
//
// # Schema
//
// Decoding walks yaml.Node trees and is strict: unknown keys (with a "did you mean"
// hint when close to a known one), a key set twice, wrong value kinds, a missing or
// empty path, version missing or not the integer 1, and more than one YAML document are
// errors. `attachments` is required but may be empty (`attachments: []`): an empty
// manifest asks to delete everything, which apply guards; requiring the key keeps a
// mangled file from meaning that by accident. Any scalar is read as its text where a
// string is expected (`path: 2024` names the file "2024"); null counts as empty.
// YAML aliases are refused: a manifest is reviewed in pull requests, values should be
// read where they stand, and `defaults` covers shared settings. The manifest is capped
// at MaxManifestSize (1 MiB); yaml.v3 keeps aliases as nodes rather than expanding
// them and limits nesting to 10,000 levels, so Parse does bounded work on any input.
//
// Field checks: disposition is attachment or attachment-inline; type matches
// ^[a-z][a-z0-9_-]*$; mimeType must parse with mime.ParseMediaType, be type/subtype and
// carry no parameters (it is stored lowercased); filename is non-empty, at most 255
// bytes, valid UTF-8, without '/', '\' or control characters, and not "." or "..".
// `defaults` may set disposition, type and mimeType.
//
// # Paths and containment
//
// Paths are '/'-separated and relative to the root: the manifest's folder, made
// absolute and free of symlinks. An entry's address is its path cleaned lexically
// (a/./b/../c is a/c). Refused: absolute paths (also C:/...), backslashes, control
// characters, paths that leave the root through "..", and any symlink (the file or a
// folder on the way) whose target lies outside the root, so that a manifest from an
// untrusted pull request cannot upload /etc/passwd or ~/.ssh/id_rsa. A symlink inside
// the root to a file inside the root is fine: Address stays the link's path, Resolved
// is the target's path. Missing files, folders, broken links, unreadable and
// non-regular files are errors.
//
// # Globs
//
// A path containing any of *?[{ is a glob in doublestar v4 syntax (** crosses
// folders; {a,b} alternatives may not contain '/'; a trailing /** means every file
// below). It expands to one entry per matching regular file, sorted by address; a glob
// matching nothing is an error, and so is a filename on a glob entry (every file would
// share it). A name starting with '.' is matched only by a pattern segment that
// starts with '.', and ** never descends into hidden folders; .git/ and .desksync/ are
// never searched, even when spelled out. ** does not descend into symlinked folders (no
// cycles, no file listed twice); a literal or wildcard segment may pass through a
// symlinked folder, which is then held to the same containment rule (an error, and
// the folder outside is never listed). Globs never match the manifest itself or the
// state file (nor its .lock and .backup), which would otherwise change on every apply.
// Literal *?[{ in file names cannot be written (backslash escapes are refused), so
// such files must be renamed.
//
// Expansion is bounded against hostile manifests: once more than Options.MaxEntries
// addresses (default 10,000, plain entries included) have been produced, Load stops
// and fails; a glob may read at most 10 x MaxEntries folders.
//
// # Merging and defaults
//
// Two plain entries with the same address, or two globs matching the same file, are
// errors naming both places. A plain entry that a glob also matches wins: its explicit
// fields override the glob's explicit fields, which override `defaults`, which override
// the built-in values (filename: the address's base name; disposition and type:
// attachment; mimeType: detected).
//
// mimeType, when no layer sets it, comes from a built-in extension table (not
// mime.TypeByExtension, which reads the host's /etc/mime.types and would make plans
// differ between machines), else from http.DetectContentType on the first 512 bytes
// with parameters stripped ("text/plain; charset=utf-8" becomes "text/plain").
//
// `state:` is optional (default desksync.state.json); Manifest.StatePath is absolute,
// relative values being relative to the root. It may point outside the root, since
// the state is never uploaded.
package manifest
