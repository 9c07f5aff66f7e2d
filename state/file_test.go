package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/hint"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testState(t testing.TB) *State {
	t.Helper()
	s := New("https://example.teamwork.com")
	s.Activate("images/logo.png", Attachment{ID: 123, Filename: "logo.png", Blake3: testHash, State: "active",
		UploadedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)})
	return s
}

// dirNames lists dir, so tests can tell that no temporary file was left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadNotExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	_, err := NewFile(path).Load(context.Background())
	if !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want ErrNotExist and fs.ErrNotExist", err)
	}
	if want := path + ": no state file: file does not exist"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestSaveWritesEncodingAndBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	f := NewFile(path)
	ctx := context.Background()
	s := testState(t)

	if err := f.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 1 {
		t.Errorf("serial after first save = %d, want 1", s.Serial)
	}
	first := mustRead(t, path)
	if want, _ := s.Encode(); !bytes.Equal(first, want) {
		t.Errorf("file holds\n%s\nwant\n%s", first, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644", fi.Mode(), err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"s.json"}) {
		t.Errorf("folder holds %q after the first save, want only s.json", names)
	}

	s.Forget("images/logo.png")
	if err := f.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 2 {
		t.Errorf("serial after second save = %d, want 2", s.Serial)
	}
	if got := mustRead(t, path+".backup"); !bytes.Equal(got, first) {
		t.Errorf("backup holds\n%s\nwant the previous state\n%s", got, first)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"s.json", "s.json.backup"}) {
		t.Errorf("folder holds %q, want s.json and s.json.backup", names)
	}

	loaded, err := NewFile(path).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Serial != 2 || loaded.Lineage != s.Lineage || len(loaded.Attachments) != 0 {
		t.Errorf("loaded %+v, want serial 2, lineage %s, no attachments", loaded, s.Lineage)
	}
}

// TestSaveAfterKillBeforeRename saves over the folder a kill leaves between a save's
// backup step and its rename: the backup is then a link to the current state, and
// renaming another link to it onto it does nothing, so the save must remove that link
// itself (seen as a stray .backup.tmp-* file after TestCrashTorture).
func TestSaveAfterKillBeforeRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	f := NewFile(path)
	ctx := context.Background()
	s := testState(t)
	if err := f.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	current := mustRead(t, path)
	if err := os.Link(path, path+".backup"); err != nil {
		t.Fatal(err)
	}

	s.Forget("images/logo.png")
	if err := f.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"s.json", "s.json.backup"}) {
		t.Errorf("folder holds %q, want s.json and s.json.backup", names)
	}
	if got := mustRead(t, path+".backup"); !bytes.Equal(got, current) {
		t.Errorf("backup holds\n%s\nwant the previous state\n%s", got, current)
	}
}

func TestSaveKeepsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	f := NewFile(path)
	s := testState(t)
	if err := f.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600 kept", fi.Mode(), err)
	}
}

func TestSaveRefusesUndecodableFile(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		loadErr  string
		saveErr  string
		wantType any
	}{
		{
			name:    "newer version",
			content: `{"version": 3, "lineage": "l", "attachments": {}}`,
			loadErr: "DIR/s.json: state file format version 3 is newer than this desksync understands (2)",
			saveErr: "not saving state over a file that could not be read: DIR/s.json: state file format version 3 is newer than this desksync understands (2)",
		},
		{
			name:    "truncated",
			content: "{\n  \"version\": 1,\n  \"attach",
			loadErr: "DIR/s.json:3:10: state file is corrupt: unexpected end of input (is the file truncated?)",
			saveErr: "not saving state over a file that could not be read: DIR/s.json:3:10: state file is corrupt: unexpected end of input (is the file truncated?)",
		},
		{
			name:    "bad id",
			content: `{"version": 1, "lineage": "l", "attachments": {"a": {"id": 0}}}`,
			loadErr: `DIR/s.json: state file is corrupt: attachments["a"].id: 0 is not a Desk file id`,
			saveErr: `not saving state over a file that could not be read: DIR/s.json: state file is corrupt: attachments["a"].id: 0 is not a Desk file id`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			expand := func(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("DIR"), []byte(dir))) }

			// After a failed Load, and also with no Load at all (a fresh File).
			f := NewFile(path)
			_, err := f.Load(context.Background())
			if err == nil || err.Error() != expand(tt.loadErr) {
				t.Errorf("Load error\n got: %v\nwant: %s", err, expand(tt.loadErr))
			}
			for _, f := range []*File{f, NewFile(path)} {
				s := testState(t)
				err := f.Save(context.Background(), s)
				if err == nil || err.Error() != expand(tt.saveErr) {
					t.Errorf("Save error\n got: %v\nwant: %s", err, expand(tt.saveErr))
				}
				if len(hint.Of(err)) == 0 {
					t.Errorf("Save error %T has no Hint", err)
				}
				if s.Serial != 0 {
					t.Errorf("serial bumped to %d by a refused save", s.Serial)
				}
			}
			if got := mustRead(t, path); string(got) != tt.content {
				t.Errorf("file changed to\n%s", got)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"s.json"}) {
				t.Errorf("folder holds %q, want only the untouched s.json", names)
			}
		})
	}
}

// A failure at any step of Save leaves the previous state file (and its backup) as they
// were, leaves no temporary file, and does not bump the serial.
func TestSaveFailureLeavesOldState(t *testing.T) {
	for _, step := range []string{stepWrite, stepSync, stepBackup, stepRename} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.json")
			f := NewFile(path)
			ctx := context.Background()
			s := testState(t)
			for range 2 { // two saves, so that a backup exists too
				if err := f.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			before, backupBefore := mustRead(t, path), mustRead(t, path+".backup")

			f.hook = func(name string) error {
				if name == step {
					return errors.New("disk on fire")
				}
				return nil
			}
			s.Forget("images/logo.png")
			err := f.Save(ctx, s)
			want := "saving state to " + path + " (the previous state is intact): disk on fire"
			if err == nil || err.Error() != want {
				t.Errorf("Save error\n got: %v\nwant: %s", err, want)
			}
			if s.Serial != 2 {
				t.Errorf("serial = %d after a failed save, want 2", s.Serial)
			}
			if got := mustRead(t, path); !bytes.Equal(got, before) {
				t.Errorf("state file changed by a failed save:\n%s", got)
			}
			// Before the backup step the backup is untouched; after it, it already holds
			// the current state, which is just as good.
			wantBackup := backupBefore
			if step == stepRename {
				wantBackup = before
			}
			if got := mustRead(t, path+".backup"); !bytes.Equal(got, wantBackup) {
				t.Errorf("backup holds\n%s\nwant\n%s", got, wantBackup)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"s.json", "s.json.backup"}) {
				t.Errorf("folder holds %q after a failed save", names)
			}

			// The failure is not sticky: the next save works.
			f.hook = nil
			if err := f.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
			if s.Serial != 3 {
				t.Errorf("serial = %d, want 3", s.Serial)
			}
		})
	}
}

// Once the rename is done the new state is in place; a failed folder sync is still
// reported, since the rename might not survive a power loss.
func TestSaveReportsFolderSyncFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	f := NewFile(path)
	f.hook = func(name string) error {
		if name == stepSyncDir {
			return errors.New("EIO")
		}
		return nil
	}
	s := testState(t)
	err := f.Save(context.Background(), s)
	if want := "saved state to " + path + ", but it may not survive a crash: syncing its folder: EIO"; err == nil || err.Error() != want {
		t.Errorf("Save error\n got: %v\nwant: %s", err, want)
	}
	// The file on disk has serial 1, so the caller's state must too, or the next save
	// would write serial 1 again.
	if s.Serial != 1 {
		t.Errorf("serial = %d, want 1", s.Serial)
	}
	if got, err := NewFile(path).Load(context.Background()); err != nil || got.Serial != 1 {
		t.Errorf("Load = %+v, %v; want serial 1", got, err)
	}
}

func TestSaveRefusesInvalidStateAndCanceledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	f := NewFile(path)
	bad := testState(t)
	bad.Attachments["images/logo.png"].Blake3 = "nope"
	err := f.Save(context.Background(), bad)
	want := "saving state to " + path + `: refusing to encode an invalid state: state file is corrupt: attachments["images/logo.png"].blake3: "nope" is not 64 lowercase hex digits`
	if err == nil || err.Error() != want {
		t.Errorf("Save error\n got: %v\nwant: %s", err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Save(ctx, testState(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with canceled ctx = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused save wrote %s (%v)", path, err)
	}
}

// Where hard links are not supported, the backup is a synced copy.
func TestSaveBackupByCopy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	f := NewFile(path)
	f.hook = func(name string) error {
		if name == stepLink {
			return errors.New("links not supported")
		}
		return nil
	}
	s := testState(t)
	if err := f.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	first := mustRead(t, path)
	s.Forget("images/logo.png")
	if err := f.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, path+".backup"); !bytes.Equal(got, first) {
		t.Errorf("backup holds\n%s\nwant\n%s", got, first)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"s.json", "s.json.backup"}) {
		t.Errorf("folder holds %q", names)
	}
}

// BenchmarkSave10k measures one Save of a state tracking 10,000 attachments (the manifest's
// default cap): apply pays this after every finished action.
func BenchmarkSave10k(b *testing.B) {
	s := New("https://example.teamwork.com")
	for i := range 10000 {
		s.Activate(fmt.Sprintf("help/img/section-%03d/figure-%04d.png", i/100, i), Attachment{ID: int64(100000 + i),
			Filename: fmt.Sprintf("figure-%04d.png", i), MimeType: "image/png", Disposition: "attachment",
			Type: "attachment", Size: 14358, Blake3: testHash, State: "active", UploadedAt: time.Now()})
	}
	f := NewFile(filepath.Join(b.TempDir(), "s.json"))
	for b.Loop() {
		if err := f.Save(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode10k measures reading that state back.
func BenchmarkDecode10k(b *testing.B) {
	s := New("https://example.teamwork.com")
	for i := range 10000 {
		s.Activate(fmt.Sprintf("help/img/section-%03d/figure-%04d.png", i/100, i), Attachment{ID: int64(100000 + i),
			Filename: fmt.Sprintf("figure-%04d.png", i), MimeType: "image/png", Disposition: "attachment",
			Type: "attachment", Size: 14358, Blake3: testHash, State: "active", UploadedAt: time.Now()})
	}
	data, err := s.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
