package plan

import (
	"errors"
	"fmt"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/manifest"
)

// FileError is a local file that could not be read while planning.
type FileError struct {
	Address string
	Err     error
}

func (e *FileError) Error() string {
	// manifest.Open's errors already name the position, the field and the address.
	var me *manifest.Error
	if errors.As(e.Err, &me) {
		return e.Err.Error()
	}
	return fmt.Sprintf("reading %s: %v", e.Address, e.Err)
}

// Unwrap lets callers test the cause, e.g. errors.Is(err, fs.ErrNotExist).
func (e *FileError) Unwrap() error { return e.Err }

// Hint tells the user how to get past the error: the cause's own hint when it has one
// (manifest.Open's errors do).
func (e *FileError) Hint() string {
	if hints := hint.Of(e.Err); len(hints) > 0 {
		return hints[0]
	}
	return `check that the file exists and is readable, then run "desksync validate"`
}

// FileTooLargeError is a file over Options.MaxFileSize, refused at plan time so that
// apply never starts an upload S3 is bound to reject.
type FileTooLargeError struct {
	Address string
	Size    int64
	Max     int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("%s is %s (%d bytes), more than the %s limit for one attachment",
		e.Address, FormatSize(e.Size), e.Size, FormatSize(e.Max))
}

// Hint tells the user how to get past the error.
func (e *FileTooLargeError) Hint() string {
	if e.Max != DefaultMaxFileSize {
		return "remove it from the manifest or make it smaller, or raise --max-file-size (default 5 GiB)"
	}
	return "remove it from the manifest or make it smaller: Desk uploads each file in one S3 POST, which takes at most 5 GiB"
}
