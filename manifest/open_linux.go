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

// how is the openat2 of every file below the root; see open.
var how = unix.OpenHow{
	Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
}

// openFD is open's system call: the descriptor, or fallback when openat2 is missing.
func (d *rootDir) openFD(root, rel string) (fd int, fallback bool, err error) {
	for {
		fd, err := unix.Openat2(d.fd, rel, &how)
		switch {
		case err == nil:
			runtime.KeepAlive(d)
			return fd, false, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
			// No openat2, or a seccomp filter refusing it: the portable way.
			return -1, true, nil
		default:
			return -1, false, &os.PathError{Op: "open", Path: filepath.Join(root, rel), Err: err}
		}
	}
}

// readHead reads the start of rel into buf: up to sniffSize bytes, then on to len(buf)
// when more says so. It holds no *os.File, whose setup costs two system calls more
// per file than the open itself.
func (d *rootDir) readHead(root, rel string, buf []byte, more func([]byte) bool) (int, error) {
	if d == nil {
		return readHeadPortable(root, rel, buf, more)
	}
	fd, fallback, err := d.openFD(root, rel)
	if fallback {
		return readHeadPortable(root, rel, buf, more)
	}
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	read := func(p []byte) (int, error) {
		for {
			n, err := unix.Read(fd, p)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return 0, &os.PathError{Op: "read", Path: filepath.Join(root, rel), Err: err}
			}
			return n, nil
		}
	}
	n, err := read(buf[:sniffSize])
	if err != nil || n < sniffSize || !more(buf[:n]) {
		return n, err
	}
	for n < len(buf) {
		k, err := read(buf[n:])
		if err != nil || k == 0 {
			return n, err
		}
		n += k
	}
	return n, nil
}

// open opens rel, a symlink-free path relative to root, for reading. RESOLVE_BENEATH
// and RESOLVE_NO_SYMLINKS give os.OpenInRoot's guarantee and more: no symlink at all
// is followed, so one swapped in since Load fails instead of being obeyed. O_NONBLOCK
// keeps a FIFO swapped in from blocking the open; reads of regular files ignore it.
// Without openat2 (Linux before 5.6) it falls back to os.OpenInRoot.
func (d *rootDir) open(root, rel string) (*os.File, error) {
	if d != nil {
		fd, fallback, err := d.openFD(root, rel)
		if err != nil {
			return nil, err
		}
		if !fallback {
			return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
		}
	}
	return os.OpenInRoot(root, rel)
}
