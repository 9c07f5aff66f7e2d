// Package desktest is an in-process emulator of Teamwork Desk's file API and of the S3
// bucket it uploads to: Desk's side of the wire, for tests, benchmarks and the CLI's
// --sandbox mode.
//
// It is a test double meant to catch client bugs, so it is as strict as Desk and S3
// are: every Desk call needs the API key, request bodies are decoded strictly, and the
// upload endpoint verifies a real AWS Signature Version 4 POST policy. It imports no
// desksync package, so it cannot share a misunderstanding with the client.
//
// Start with [New] (everything in memory) or [Open] (persisted in a folder), then either
// mount the [*Server] as an http.Handler (httptest.NewServer) or call [Serve] for a
// loopback listener. Assert on [Server.Files], [Server.Content] and [Server.Requests];
// break things with [Server.Inject], [Server.SetLatency] and [Server.SetClock]; make
// remote drift with [Server.Edit], [Server.SetContent] and [Server.Remove].
//
// # Desk endpoints
//
//	POST   /desk/api/v2/files/ref.json   201 {"url", "params", "file"} (file.state "temp")
//	PATCH  /desk/api/v2/files/{id}.json  200 {"file"}; body {"file":{state?, filename?, disposition?}}
//	GET    /desk/api/v2/files/{id}.json  200 {"file"} with downloadURL while active
//	DELETE /desk/api/v2/files/{id}.json  204; the file stays readable with state "deleted"
//
// Authentication is "Authorization: Bearer KEY" or HTTP Basic with KEY as the user name
// or the password. An empty Options.APIKey accepts no request at all.
//
// Known file types are attachment, image, avatar and logo. The last three accept only
// image/* media types, as Desk's file types restrict their content types. A filename is
// non-empty UTF-8 of at most 255 bytes without '/' or control characters; a disposition
// is attachment or attachment-inline; a mimeType is a bare type/subtype that
// mime.ParseMediaType accepts, without parameters such as "; charset=".
//
// Every Desk error, whatever its status (400, 401, 404, 405, 429, injected 5xx), has one
// JSON shape:
//
//	{"errors":[{"code":"validation","field":"disposition","detail":"must be attachment or attachment-inline"}]}
//
// code is one of validation, invalid_json, unauthorized, not_found, method_not_allowed,
// rate_limited, internal or injected; field is present when one request field is at
// fault; a validation error lists every bad field at once.
//
// With Options.RateLimit > 0 every Desk response (errors included) carries
// X-Rate-Limit-Limit, X-Rate-Limit-Remaining and X-Rate-Limit-Reset, counted in fixed
// windows of Options.RateWindow on the emulator's clock. Reset is the number of whole
// seconds until the window ends, or with Options.ResetAsEpoch the window's end as Unix
// seconds. Beyond the limit the answer is 429 with Retry-After. Requests rejected as
// unauthenticated do not count. With RateLimit 0 there is no limit and no such headers,
// so clients must also cope with their absence. The S3 endpoint and downloads are never
// limited.
//
// # S3 endpoint
//
// The ref's url is http://HOST/s3/BUCKET, HOST being the Host the ref was requested on.
// A POST there must be multipart/form-data holding every param of the ref as a field and
// then exactly one field named "file", last. The body is parsed as a stream and the file
// goes straight to the blob store, its MD5 and size computed on the way, so the
// emulator's memory does not grow with the upload. Errors are S3's XML documents
// (<Error><Code/><Message/>…<RequestId/><HostId/></Error>), checked in this order:
//
//	400 InvalidArgument        an Authorization header ("Only one auth mechanism allowed; …")
//	412 PreconditionFailed     the body is not multipart/form-data
//	404 NoSuchBucket           the URL names another bucket
//	400 MaxPostPreDataLengthExceeded  fields before the file exceed 20 KiB
//	400 InvalidArgument        a field sent twice
//	400 InvalidArgument        no file ("POST requires exactly one file upload per request.")
//	400 InvalidArgument        key, policy or an x-amz-* field missing before the file
//	                           ("Bucket POST must contain a field named 'key'. If it is
//	                           specified, please check the order of the fields.")
//	400 InvalidArgument        x-amz-algorithm other than AWS4-HMAC-SHA256, bad x-amz-credential
//	403 InvalidAccessKeyId     a credential for another access key
//	403 SignatureDoesNotMatch  the signature does not sign the policy
//	400 InvalidPolicyDocument  the policy is not base64 JSON with expiration and conditions
//	403 AccessDenied           "Invalid according to Policy: Policy expired."
//	403 AccessDenied           "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", \"…\"]"
//	                           (a changed or missing field)
//	403 AccessDenied           "Invalid according to Policy: Extra input fields: name"
//	                           (any field but policy, x-amz-signature, file and x-ignore-*
//	                           that no condition covers)
//	403 AccessDenied           the key's Desk file is no longer temp (activated or deleted)
//	400 EntityTooLarge         more bytes than content-length-range or Options.MaxUploadSize
//	400 EntityTooSmall         fewer bytes than content-length-range allows
//	400 InvalidArgument        any part after the file. Real S3 ignores trailing parts,
//	                           and then misses any required field among them; the
//	                           emulator refuses them outright with S3's wording for a
//	                           misplaced field, because S3 requires the file to be last.
//
// While its Desk file is temp a key may be uploaded again; the last upload wins. Success
// answers success_action_status: 201 with a PostResponse XML (Location, Bucket, Key,
// ETag) and an ETag header holding the quoted hex MD5 of the bytes received.
//
// # Downloads
//
// downloadURL is http://HOST/desktest/download/{id}?k=TOKEN, served without the API key
// like a presigned URL, with Range support. A wrong token is 403, a file not active 404.
//
// # Faults
//
// [Server.Inject] queues a [Fault] for the next calls of one [Endpoint]: a status
// answered instead of the operation (or after it, with AfterCommit, so the client never
// learns it succeeded), a dropped connection, extra latency, a Retry-After header. A
// Desk request first passes authentication and the rate limit, then meets its fault.
//
// # Persistence
//
// With Options.Dir (or [Open]) the emulator keeps its metadata in DIR/desktest.json, a
// snapshot, and DIR/desktest.log, an append-only log beside it: one JSON line per
// change, holding the changed file's whole record, so a request costs the same however
// many files the emulator holds. The first change after New or Open writes a new
// snapshot and starts a new log naming it (by its SHA-256), each atomically (temp file,
// then rename); Open loads the snapshot and replays the log that names it. A process
// killed at any instant leaves a consistent folder: a torn last line is an append that
// never happened, and a log naming another snapshot holds nothing the snapshot lacks.
// Nothing is fsynced, as surviving a power cut is no goal of a test double. Each
// uploaded object is kept in DIR/blobs/ID; uploads in flight live in DIR/tmp/. The
// signing secret is persisted too, so refs issued before a restart still verify after
// it. Without Dir, objects are kept in memory.
//
// The emulator is safe for concurrent use. It keeps no package-level state: the clock,
// the random source and every limit are per Server.
package desktest
