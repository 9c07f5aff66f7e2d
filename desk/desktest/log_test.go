package desktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// busyEmulator makes every kind of change in e: refs, uploads, activations, a rename, a
// deletion, remote edits, a content change and a removal.
func busyEmulator(t *testing.T, e *env, n int) {
	t.Helper()
	for i := range n {
		e.uploadFile("f"+itoa(int64(i))+".txt", []byte("content "+itoa(int64(i))))
	}
	e.ref("pending.txt", "text/plain")
	if res := e.desk("PATCH", "/desk/api/v2/files/1.json", `{"file":{"filename":"renamed.txt"}}`); res.status != 200 {
		t.Fatalf("rename: %d %s", res.status, res.body)
	}
	if res := e.desk("DELETE", "/desk/api/v2/files/2.json", ""); res.status != 204 {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	if err := e.s.Edit(3, func(f *FileRecord) { f.Disposition = "attachment-inline" }); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetContent(4, []byte("changed remotely")); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Remove(5); err != nil {
		t.Fatal(err)
	}
}

// A request appends one line of about one record to the log and leaves the snapshot
// alone, however many files the emulator holds; Open replays the log.
func TestPersistenceLogCostAndReplay(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	e.uploadFile("first.txt", []byte("first")) // the first change writes the snapshot
	snapshot, err := os.Stat(filepath.Join(dir, metaFile))
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, logFile)
	logSize := func() int64 {
		fi, err := os.Stat(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}

	before := logSize()
	e.uploadFile("second.txt", []byte("second")) // ref, upload, activation
	early := logSize() - before
	for i := range 200 {
		e.uploadFile("more"+itoa(int64(i))+".txt", []byte("more"))
	}
	before = logSize()
	e.uploadFile("last.txt", []byte("last"))
	late := logSize() - before
	if early == 0 || late > early+16 || late > 3*1024 {
		t.Errorf("an upload's three requests appended %d bytes to the log with 2 files, %d with 203; want the same, under 3 KiB", early, late)
	}
	if now, err := os.Stat(filepath.Join(dir, metaFile)); err != nil || !os.SameFile(now, snapshot) || now.Size() != snapshot.Size() {
		t.Errorf("the snapshot was rewritten by a request: %v", err)
	}

	busyEmulator(t, e, 0)
	want := e.s.Files()
	e2 := openEnv(t, dir)
	if got := e2.s.Files(); !reflect.DeepEqual(got, want) {
		t.Fatalf("files after replay:\n got %+v\nwant %+v", got, want)
	}
	if c, err := e2.s.Content(4); err != nil || string(c) != "changed remotely" {
		t.Errorf("Content(4) after replay = %q, %v", c, err)
	}
	if r := e2.ref("next.txt", "text/plain"); r.id() != int64(len(want))+2 {
		// 205 files were created, one of them removed: ids go on from 206.
		t.Errorf("next id %d, want %d", r.id(), len(want)+2)
	}
}

// A kill in the middle of an append leaves a torn last line, which Open ignores; the
// next change starts afresh from a snapshot, so the torn line never glues onto another.
func TestPersistenceTornLog(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	busyEmulator(t, e, 6)
	want := e.s.Files()
	f, err := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"file":{"id":7,"filename":"tor`)
	f.Close()

	e2 := openEnv(t, dir)
	if got := e2.s.Files(); !reflect.DeepEqual(got, want) {
		t.Fatalf("files after a torn append:\n got %+v\nwant %+v", got, want)
	}
	id := e2.uploadFile("after.txt", []byte("after"))
	want = e2.s.Files()
	e3 := openEnv(t, dir)
	if got := e3.s.Files(); !reflect.DeepEqual(got, want) {
		t.Fatalf("files after the next change:\n got %+v\nwant %+v", got, want)
	}
	if c, err := e3.s.Content(id); err != nil || string(c) != "after" {
		t.Errorf("Content(%d) = %q, %v", id, c, err)
	}
}

// A kill between writing a snapshot and starting its log leaves the new snapshot and
// the previous log, every entry of which the snapshot already holds; after New, the
// previous log belongs to the emulator New replaced. Either way Open ignores it.
func TestPersistenceStaleLog(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	busyEmulator(t, e, 6)
	oldLog, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}

	e2 := openEnv(t, dir)
	e2.ref("compacted.txt", "text/plain") // writes a snapshot and a new log
	want := e2.s.Files()
	os.WriteFile(filepath.Join(dir, logFile), oldLog, 0o644)
	if got := openEnv(t, dir).s.Files(); !reflect.DeepEqual(got, want) {
		t.Fatalf("files with the previous log:\n got %+v\nwant %+v", got, want)
	}

	// New starts empty over the same folder: the old log must not resurrect files.
	e3 := newEnv(t, Options{Dir: dir})
	e3.uploadFile("only.txt", []byte("only"))
	os.WriteFile(filepath.Join(dir, logFile), oldLog, 0o644)
	got := openEnv(t, dir).s.Files()
	if len(got) != 1 || got[0].Filename != "only.txt" {
		t.Fatalf("files after New and the previous log: %+v, want only.txt", got)
	}
}

func TestOpenLogErrors(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	e.uploadFile("a.txt", []byte("a"))
	e.uploadFile("b.txt", []byte("b"))
	good, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	header, entry := lines[0], lines[1]
	file9 := strings.Replace(entry, `"id":1,`, `"id":9,`, 1) // file 1's key
	tests := []struct {
		name, log, want string
	}{
		{"garbage in the middle", header + "{\n" + entry, "line 2: unexpected EOF"},
		{"unknown field", header + `{"file":{"id":2},"x":1}` + "\n", `line 2: json: unknown field "x"`},
		{"no header", entry + entry, "line 1: not the header naming the snapshot"},
		{"file and removal", header + `{"file":{"id":2},"removed":2}` + "\n", "line 2: not one file record or one removal"},
		{"empty line", header + "\n" + entry, "line 2: EOF"},
		{"no id", header + `{"file":{"key":"k"}}` + "\n", "line 2: a file record with id 0"},
		{"duplicate key", header + entry + file9, "line 3: files 1 and 9 have the same key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, logFile), []byte(tt.log), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, Options{})
			var oe *OpenError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want *OpenError", err)
			}
			want := "desktest: " + filepath.Join(dir, logFile) + ": cannot load the emulator's state: " + tt.want
			if err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
			if hint := "the sandbox is only a test double; delete " + dir + " to start it afresh"; oe.Hint() != hint {
				t.Errorf("hint = %q", oe.Hint())
			}
		})
	}
}

// FuzzOpenLog: whatever the log holds, Open never panics nor fails without an
// *OpenError, and what it loads survives a snapshot and another Open unchanged.
func FuzzOpenLog(f *testing.F) {
	seedDir := f.TempDir()
	s := New(Options{APIKey: testKey, Dir: seedDir})
	hs := httptest.NewServer(s)
	defer hs.Close()
	e := &env{t: f, s: s, url: hs.URL}
	e.uploadFile("a.txt", []byte("a")) // the snapshot
	e.uploadFile("b.txt", []byte("b"))
	e.ref("c.txt", "text/plain")
	if err := s.Remove(1); err != nil {
		f.Fatal(err)
	}
	snapshot, err := os.ReadFile(filepath.Join(seedDir, metaFile))
	if err != nil {
		f.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(seedDir, logFile))
	if err != nil {
		f.Fatal(err)
	}
	header := log[:bytes.IndexByte(log, '\n')+1]
	f.Add(log)
	f.Add(log[:len(log)-7])
	f.Add(append(bytes.Clone(header), `{"removed":9223372036854775807}`+"\n"...))
	f.Add(append(bytes.Clone(header), `{"file":{"id":3,"key":"files/1/x/a.txt","createdAt":"2020-01-01T00:00:00+05:00"}}`+"\n"...))

	f.Fuzz(func(t *testing.T, log []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, metaFile), snapshot, 0o644)
		os.WriteFile(filepath.Join(dir, logFile), log, 0o644)
		s, err := Open(dir, Options{})
		if err != nil {
			var oe *OpenError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want *OpenError", err)
			}
			return
		}
		want, _ := json.Marshal(s.Files())
		s.mu.Lock()
		err = s.compact()
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("Open after a snapshot of what the log held: %v", err)
		}
		if got, _ := json.Marshal(s2.Files()); !bytes.Equal(got, want) {
			t.Fatalf("files changed across a snapshot:\n got %s\nwant %s", got, want)
		}
		if s2.nextID != s.nextID {
			t.Errorf("next id %d after a snapshot, was %d", s2.nextID, s.nextID)
		}
	})
}

// killChildDir names the folder TestPersistenceKillChild works in when this test binary
// runs as the child of TestPersistenceSurvivesKill.
const killChildDir = "DESKTEST_KILL_CHILD_DIR"

// TestPersistenceSurvivesKill kills an emulator busy changing its folder at arbitrary
// instants (SIGKILL: no deferred code runs), several times over the same folder, and
// checks that each time the folder opens, holds every file the last one held or more,
// and describes every object it says was uploaded truly.
func TestPersistenceSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	dir := t.TempDir()
	held := 0
	for round, delay := range []time.Duration{150, 40, 300, 90, 220} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPersistenceKillChild$")
		cmd.Env = append(os.Environ(), killChildDir+"="+dir)
		out := &markWriter{mark: killChildBusy, seen: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// The kill instants count from the child's first change, not from its start,
		// which a loaded machine can delay by any amount.
		select {
		case <-out.seen:
		case <-exited:
			t.Fatalf("round %d: the child ended before changing anything:\n%s", round, out.String())
		}
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Kill()
		<-exited

		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after a kill: %v\nchild output:\n%s", round, err, out.String())
		}
		files := s.Files()
		if len(files) < held {
			t.Fatalf("round %d: %d files after a kill, %d before it", round, len(files), held)
		}
		held = len(files)
		for _, f := range files {
			if f.MD5 == "" {
				continue
			}
			c, err := s.Content(f.ID)
			if err != nil || md5hex(c) != f.MD5 {
				t.Errorf("round %d: file %d records MD5 %s; its object: %v, MD5 %s", round, f.ID, f.MD5, err, md5hex(c))
			}
		}
		t.Logf("round %d: killed after %v, %d files", round, delay*time.Millisecond, held)
	}
	if held == 0 {
		t.Error("the children changed nothing before they were killed")
	}
}

// killChildBusy is what TestPersistenceKillChild prints once it has made its first change.
const killChildBusy = "desktest: kill child busy\n"

// markWriter keeps what the child prints and closes seen once mark has been printed.
// exec calls Write from one goroutine at a time; String is read after the child ended.
type markWriter struct {
	out  strings.Builder
	mark string
	seen chan struct{}
}

func (w *markWriter) Write(p []byte) (int, error) {
	before := strings.Contains(w.out.String(), w.mark)
	w.out.Write(p)
	if !before && strings.Contains(w.out.String(), w.mark) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *markWriter) String() string { return w.out.String() }

// TestPersistenceKillChild is the emulator TestPersistenceSurvivesKill kills: it opens
// the folder and changes it until it is killed, saying when the first change is made.
func TestPersistenceKillChild(t *testing.T) {
	dir := os.Getenv(killChildDir)
	if dir == "" {
		t.Skip("run by TestPersistenceSurvivesKill")
	}
	e := openEnv(t, dir)
	for i := 0; ; i++ {
		id := e.uploadFile("f"+itoa(int64(i))+".txt", bytes.Repeat([]byte{byte(i)}, 1+i%5000))
		if i == 0 {
			os.Stdout.WriteString(killChildBusy)
		}
		switch i % 4 {
		case 1:
			e.desk("PATCH", "/desk/api/v2/files/"+itoa(id)+".json", `{"file":{"filename":"renamed.txt"}}`)
		case 2:
			e.desk("DELETE", "/desk/api/v2/files/"+itoa(id)+".json", "")
		case 3:
			e.ref("pending.txt", "text/plain")
		}
	}
}
