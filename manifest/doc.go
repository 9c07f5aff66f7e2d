// Package manifest reads desksync.yaml into the list of attachments desksync manages.
//
// Start with Load, which returns a *Manifest whose Entries (one per address, sorted)
// are what plan compares with the state. Parse is the pure half of Load (syntax and
// schema, no file system). Plan and apply open files only through (*Manifest).Open.
// Every problem is an *Error (FILE:LINE:COL: FIELD: MSG, with a Hint); Load and Parse
// return all of them at once as an ErrorList.
//
// Options.Cache (a HeadCache, such as plan/hashcache) lets Load skip opening files
// whose stat data it knows; it never stands in for the containment checks.
//
// The rules themselves (schema, containment, globs, desksync's own files, warnings)
// are written down once, in docs/manifest.md.
package manifest
