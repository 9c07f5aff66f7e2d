package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// rootDir is the root folder, held open so that files below it can be opened in one
// openat2 call each instead of os.OpenInRoot's open of the root and of every folder on
// the way. It is closed when the last Manifest holding it is garbage.
type rootDir struct{ fd int }

func openRootDir(root string) *rootDir {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	d := &rootDir{fd: fd}
	runtime.AddCleanup(d, func(fd int) { unix.Close(fd) }, fd)
	return d
}

// open opens rel, a symlink-free path relative to root, for reading. RESOLVE_BENEATH
// and RESOLVE_NO_SYMLINKS give os.OpenInRoot's guarantee and more: no symlink at all
// is followed, so one swapped in since Load fails instead of being obeyed. O_NONBLOCK
// keeps a FIFO swapped in from blocking the open; reads of regular files ignore it.
// Without openat2 (Linux before 5.6) it falls back to os.OpenInRoot.
func (d *rootDir) open(root, rel string) (*os.File, error) {
	if d != nil {
		how := unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		for {
			fd, err := unix.Openat2(d.fd, rel, &how)
			switch {
			case err == nil:
				runtime.KeepAlive(d)
				return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
				// No openat2, or a seccomp filter refusing it: the portable way.
			default:
				return nil, &os.PathError{Op: "open", Path: filepath.Join(root, rel), Err: err}
			}
			break
		}
	}
	return os.OpenInRoot(root, rel)
}
