// Package seaweedtest runs one SeaweedFS S3 server on loopback for a test binary, so that
// the S3 state store is tested against a real S3 implementation, not a fake.
//
// A test binary wraps its tests with [Main] (in TestMain); each test that needs S3 calls
// [Require], which returns the server's address and keys, or skips the test with the
// reason when no SeaweedFS binary is configured (DESKSYNC_WEED, which .ci/run sets after
// building it). With DESKSYNC_LONG_TESTS=1 a missing binary fails the test instead: CI
// must not pass by skipping.
//
// The server's address and keys travel in the environment of the test process
// (DESKSYNC_TEST_S3_*), which is how Require finds them without package variables.
package seaweedtest
