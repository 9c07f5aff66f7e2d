// Command bench measures desksync apply at scale against the Desk emulator, the way a
// pipeline runs it, and prints the figures docs/benchmarks.md records.
//
//	go run ./bench apply -files 1000 -size 4KiB            # many small files
//	go run ./bench apply -files 1000 -size 4KiB -compare   # and the same with --parallelism 1
//	go run ./bench apply -files 1000 -compare -rounds 5    # five such pairs, alternating; the median speed-up
//	go run ./bench apply -files 200 -rate 20/2s            # under a scaled Desk rate limit
//	go run ./bench apply -files 500 -mix                   # a realistic mix of sizes
//	go run ./bench apply -series 1000,4000,10000           # bytes written against the state's size
//	go run ./bench apply -files 4000 -sandbox              # desksync apply --sandbox, emulator included
//	go run ./bench apply -one 1GiB                         # one large file, and curl -F on it
//
// Each run generates the files and a manifest in a temporary folder, starts the
// emulator (package desk/desktest) on loopback inside this process, builds desksync
// once, and runs "desksync apply --auto-approve --format json" as a subprocess, so that
// the peak RSS it reports is desksync's own, not the emulator's. It reads the NDJSON
// events for per-phase timings, and counts Desk requests and 429s in the emulator's
// request log, which is the server's view rather than the client's.
//
// Large files are stored by the emulator on disk (its Dir mode), so the bench process's
// memory does not matter either; small ones are kept in memory, which keeps the
// emulator's disk writes off the disk desksync's state is saved to.
//
// Bytes written are rusage's oublock times 512, which Linux counts as /proc/PID/io
// write_bytes: bytes dirtied in the page cache of disk-backed files, whether or not they
// reach the disk before the file is replaced. -series prints them against the final
// state's size; with -sandbox they include the embedded emulator's.
//
// bench/curl.sh is the protocol's three steps done by hand with curl, as the Desk API
// documentation shows them; "-curl" times it once for one file for reference.
//
// bench is a measuring tool, not part of desksync: it exits 1 when the apply fails or
// leaves Desk in a state other than one active file per generated file.
package main
