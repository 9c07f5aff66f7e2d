// Package desk is the HTTP client for Teamwork Desk's file API and the S3 upload that
// sits between its steps.
//
// Start with [New]. A [Client] makes the three calls of an upload — [Client.CreateRef],
// [Client.Upload] (the multipart POST to S3, streamed, file field last, never carrying
// the Desk API key) and [Client.UpdateFile] — plus [Client.GetFile], [Client.DeleteFile]
// and [Client.Download] for refresh, cleanup and diffs.
//
// # One layer for retries and pacing
//
// Every request goes through one retry loop in this package, so callers never retry:
// network errors, 5xx and 429 are retried with exponential backoff and full jitter up to
// Config.Retries; 429s are waited out (Retry-After, else the rate-limit reset) without
// using up that budget, but at most 10 times and never longer than 120 s. Desk API calls
// (not S3 uploads) share one pacer per Client, fed by the X-Rate-Limit-* headers of every
// Desk answer. Waits longer than 5 s are announced on Config.Notices.
//
// # What the client does not trust
//
// Answers are read through size caps; the API key is scrubbed from every string decoded
// from them; upload and download URLs Desk hands out may not lead into loopback,
// link-local or private networks (checked where the connection is made, see
// Config.Resolver) unless the site itself is on loopback.
//
// # Errors
//
// A failed call returns an [*APIError] carrying the operation, the HTTP status and
// Desk's (or S3's) own message; [IsNotFound] and [IsPolicyExpired] answer the two
// questions callers branch on. The first 401 or 403 from a Desk API call stops the
// Client: that call and every later one return an [*AuthError] ([IsAuth]), the later
// ones without sending anything. An answer that cannot be trusted (a malformed ref, an
// upload URL on a foreign plain-http host, an oversize body) is a [*ResponseError]; a
// file larger than the ref says its type allows is a [*TooLargeError], before any upload.
// Errors and --debug lines never contain the API key, a policy or a signature.
//
// What this package leaves to others: deciding what to upload (plan), recording ids
// (apply, state) and rendering progress (view). It imports none of desksync's packages.
package desk
