package manifest

import (
	"bytes"
	"encoding/binary"
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
			// The fields are read as bytes, at their offsets in unix.Dirent: the last
			// record is shorter than the struct, so no pointer may be made to one.
			if len(rec) < direntName {
				return nil, &os.PathError{Op: "readdirent", Path: abs, Err: unix.EIO}
			}
			ino := binary.NativeEndian.Uint64(rec[direntIno:])
			size := int(binary.NativeEndian.Uint16(rec[direntReclen:]))
			kind := rec[direntType]
			if size < direntName || size > len(rec) {
				return nil, &os.PathError{Op: "readdirent", Path: abs, Err: unix.EIO}
			}
			name := rec[direntName:size]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			rec = rec[size:]
			if ino == 0 || string(name) == "." || string(name) == ".." {
				continue
			}
			typ, ok := typeOfDirent(kind)
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

// The offsets of linux_dirent64's fields, as getdents64 lays each record out.
const (
	direntIno    = int(unsafe.Offsetof(unix.Dirent{}.Ino))
	direntReclen = int(unsafe.Offsetof(unix.Dirent{}.Reclen))
	direntType   = int(unsafe.Offsetof(unix.Dirent{}.Type))
	direntName   = int(unsafe.Offsetof(unix.Dirent{}.Name))
)

// typeOfDirent is the type a folder record gives, which is the inode's type bits
// shifted down (glibc's IFTODT); false for DT_UNKNOWN.
func typeOfDirent(t uint8) (fs.FileMode, bool) {
	if t == unix.DT_UNKNOWN {
		return 0, false
	}
	return statType(uint32(t) << 12), true
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
