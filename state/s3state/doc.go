// Package s3state keeps a desksync state on S3-compatible storage: the second
// implementation of [state.Store], for teams whose pipelines should not commit the state
// back to git (docs/team.md).
//
// Start with [Open], which takes an s3://BUCKET/KEY URL. Credentials and region come from
// the AWS SDK's standard chain (environment, shared profiles, web identity for CI OIDC);
// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) selects an S3-compatible store (MinIO,
// SeaweedFS, R2, Ceph) with path-style addressing and request checksums only where the API
// requires them, which several such stores reject otherwise (hashicorp/terraform#36704).
//
// # Objects
//
//	KEY             the state, byte for byte the file format (state.State.Encode)
//	KEY.backup      the previous KEY, copied before KEY is replaced
//	KEY.lock        the lock: the same JSON as <state>.lock, created with If-None-Match: *
//	KEY.journal/N   steps recorded by Append since KEY was last written, N its first serial
//	KEY.probe/ID    short-lived: the check that the store honours If-None-Match
//
// # Consistency
//
// Every write of KEY is conditional: If-Match on the ETag last read or written, or
// If-None-Match: * when there is none yet. A state that anyone else changed is therefore
// never overwritten; the write fails with a [*ConcurrentWriteError] and whatever was recorded
// before stays recorded. Journal objects are created with If-None-Match: *, so two writers
// that started from one serial cannot both record a step, and after creating one, Append
// checks that KEY is still the version it read, so a step is never recorded beside a state
// someone else replaced without the writer hearing of it. A later Load that finds such
// steps, which the state object does not include, refuses with a [*UnmergedError] naming
// them, rather than skip Desk files they record.
//
// Some stores accept If-None-Match and ignore it (Backblaze B2, hashicorp/terraform#37143;
// Incus, lxc/incus#3651), which would make the lock exclude no one. Before its first lock
// or write, a Store creates a probe object twice with If-None-Match: * and refuses to go on
// (a [*ProbeError] naming the store) unless the second create is refused with 412.
package s3state
