package state

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"time"
)

// killHookEnv names a step of a state write at which a test binary kills itself, as
// STEP:N for the N-th time the step is reached: the kill torture's way into the middle
// of an append or a compaction of a desksync it runs as a subprocess. Only test binaries
// read it.
const killHookEnv = "DESKSYNC_TEST_KILL_AT"

// killHook returns the hook that killHookEnv asks for, or nil.
func killHook() func(step string) error {
	// The testing package registers test.v in every test binary; asking the flag set
	// instead of testing.Testing keeps package testing out of the shipped binary.
	if flag.Lookup("test.v") == nil {
		return nil
	}
	name, count, ok := strings.Cut(os.Getenv(killHookEnv), ":")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return nil
	}
	return func(step string) error {
		if step == name {
			if n--; n == 0 {
				p, _ := os.FindProcess(os.Getpid())
				_ = p.Kill()
				time.Sleep(time.Minute) // the signal is on its way
			}
		}
		return nil
	}
}
