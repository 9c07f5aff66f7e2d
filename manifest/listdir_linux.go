package manifest

import (
	"errors"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listDir lists the folder at abs (dir root-relative) with getdents64 into buf and
// found, which the walk reuses: os.ReadDir would allocate an entry and a name per file.
// It follows symlinks on the way to abs, as os.ReadDir does; the walk decides which
// folders it may enter.
func listDir(abs, dir string, buf []byte, found *names) ([]dirent, error) {
	fd, err := openDir(abs)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: abs, Err: err}
	}
	defer unix.Close(fd)
	found.reset()
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: abs, Err: err}
		}
		if n <= 0 {
			break
		}
		for rec := buf[:n]; len(rec) > 0; {
			d := (*unix.Dirent)(unsafe.Pointer(&rec[0]))
			size := int(d.Reclen)
			if size < int(unsafe.Offsetof(d.Name)) || size > len(rec) {
				return nil, &os.PathError{Op: "readdirent", Path: abs, Err: unix.EIO}
			}
			name := rec[unsafe.Offsetof(d.Name):size]
			if i := indexNUL(name); i >= 0 {
				name = name[:i]
			}
			rec = rec[size:]
			if d.Ino == 0 || string(name) == "." || string(name) == ".." {
				continue
			}
			typ, ok := direntType(d.Type)
			if !ok {
				// The file system keeps no type in its folders: ask the inode.
				var st unix.Stat_t
				err := unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW)
				if errors.Is(err, unix.ENOENT) {
					continue // gone since the listing, as os.ReadDir skips it
				}
				if err != nil {
					return nil, &os.PathError{Op: "lstat", Path: abs + "/" + string(name), Err: err}
				}
				typ = statType(st.Mode)
			}
			found.add(name, typ)
		}
	}
	return direntsOf(dir, found), nil
}

func openDir(abs string) (int, error) {
	for {
		fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func direntType(t uint8) (fs.FileMode, bool) {
	switch t {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return fs.ModeDir, true
	case unix.DT_LNK:
		return fs.ModeSymlink, true
	case unix.DT_FIFO:
		return fs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return fs.ModeSocket, true
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case unix.DT_BLK:
		return fs.ModeDevice, true
	}
	return 0, false
}

func statType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
