//go:build windows

package state

import (
	"errors"

	"golang.org/x/sys/windows"
)

// stillActive is the exit code GetExitCodeProcess reports for a running process.
const stillActive = 259

// processAlive reports whether pid names a running process on this host. A pid that
// no process holds cannot be opened (ERROR_INVALID_PARAMETER); access denied means it
// exists but belongs to someone else. An exited process whose handle someone still
// holds can be opened, so its exit code decides.
func processAlive(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}

// openNonblock is 0: Windows has no FIFOs in the file system to block on.
const openNonblock = 0
