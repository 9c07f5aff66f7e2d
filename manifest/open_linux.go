package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"
)

// rootDir is the root folder, held open so that files below it can be opened in one
// openat2 call each instead of os.OpenInRoot's open of the root and of every folder on
// the way. It is closed when the last Manifest holding it is garbage.
type rootDir struct {
	fd int
	// uid, gid and groups are this process's credentials, for statStamp's check.
	uid, gid uint32
	groups   []uint32
}

func openRootDir(root string) *rootDir {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	d := &rootDir{fd: fd, uid: uint32(unix.Geteuid()), gid: uint32(unix.Getegid())}
	if groups, err := unix.Getgroups(); err == nil {
		for _, g := range groups {
			d.groups = append(d.groups, uint32(g))
		}
	}
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

// statStamp is the stamp of rel from one fstatat beneath the root that does not follow
// a final symlink. It reports ok only for a regular file whose mode bits let this
// process read it: the cache may then stand for the open that proved it readable,
// since any chmod, chown or ACL change moves the ctime and so the stamp (see
// docs/manifest.md, "Hash cache"). Anything else is left to the open.
func (d *rootDir) statStamp(rel string) (Stamp, bool) {
	if d == nil {
		return Stamp{}, false
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		runtime.KeepAlive(d)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || !d.mayRead(&st) {
			return Stamp{}, false
		}
		return stampOfStat(&st), true
	}
}

func stampOfStat(st *unix.Stat_t) Stamp {
	return Stamp{Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(), Ino: st.Ino, Dev: st.Dev}
}

// mayRead applies the owner, group and other read bits of st to this process.
func (d *rootDir) mayRead(st *unix.Stat_t) bool {
	switch {
	case d.uid == 0:
		return true
	case st.Uid == d.uid:
		return st.Mode&0o400 != 0
	case st.Gid == d.gid || slices.Contains(d.groups, st.Gid):
		return st.Mode&0o040 != 0
	}
	return st.Mode&0o004 != 0
}

// readHead reads the start of rel into buf: up to sniffSize bytes, then on to
// planMarkerWindow when more says so. With stamp set it also returns the file's stamp,
// taken from the open descriptor before the first read, and a file of at most
// len(buf) bytes is read whole (reported by whole) for its digest. It holds no
// *os.File, whose setup costs two system calls more per file than the open itself.
func (d *rootDir) readHead(root, rel string, buf []byte, more func([]byte) bool, stamp bool) (n int, s Stamp, stamped, whole bool, err error) {
	if d == nil {
		n, s, stamped, err = readHeadPortable(root, rel, buf[:min(len(buf), planMarkerWindow)], more, stamp)
		return n, s, stamped, false, err
	}
	fd, fallback, err := d.openFD(root, rel)
	if fallback {
		n, s, stamped, err = readHeadPortable(root, rel, buf[:min(len(buf), planMarkerWindow)], more, stamp)
		return n, s, stamped, false, err
	}
	if err != nil {
		return 0, Stamp{}, false, false, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	stamped = stamp && unix.Fstat(fd, &st) == nil
	if stamped {
		s = stampOfStat(&st)
	}
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
	if stamped && st.Size <= int64(len(buf)) {
		// One read for a small file; a second only when the first came back short. A
		// file that changed size since the stat is not whole: the hash pass reads it.
		size := int(st.Size)
		for {
			k, err := read(buf[n:])
			if err != nil {
				return n, s, stamped, false, err
			}
			n += k
			if k == 0 || n >= size {
				return n, s, stamped, n == size, nil
			}
		}
	}
	n, err = read(buf[:sniffSize])
	if err != nil || n < sniffSize || !more(buf[:n]) {
		return n, s, stamped, false, err
	}
	for n < planMarkerWindow {
		k, err := read(buf[n:planMarkerWindow])
		if err != nil || k == 0 {
			return n, s, stamped, false, err
		}
		n += k
	}
	return n, s, stamped, false, nil
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
