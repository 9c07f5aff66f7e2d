package state

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killChildEnv makes TestJournalKillChild the writer that TestJournalKilled kills.
const killChildEnv = "DESKSYNC_TEST_KILL_CHILD"

// killSteps is the writer's sequence: batch i of an upload's two steps, and every third
// upload a replace (depose and activate in one batch), so batches of one and two.
func killSteps() [][]Mutation {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var out [][]Mutation
	for i := 1; i <= 60; i++ {
		addr := fmt.Sprintf("f%02d.bin", i%20)
		id := int64(100 + i)
		out = append(out, []Mutation{{Op: OpSetPending, Address: addr, Pending: &Pending{ID: id, Blake3: testHash, StartedAt: at}}})
		activate := Mutation{Op: OpActivate, Address: addr, Attachment: &Attachment{ID: id, Blake3: testHash, Filename: addr, UploadedAt: at}}
		if i > 20 {
			old := int64(100 + i - 20)
			out = append(out, []Mutation{{Op: OpDepose, Deposed: &Deposed{Address: addr, ID: old, Since: at}}, activate},
				[]Mutation{{Op: OpUndepose, ID: old}})
		} else {
			out = append(out, []Mutation{activate})
		}
	}
	return out
}

// TestJournalKillChild is not a test on its own: run by TestJournalKilled, it writes
// killSteps through a File, printing each serial once Append has returned, until the
// kill hook ends it.
func TestJournalKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("run by TestJournalKilled")
	}
	f := NewFile(filepath.Join(dir, "s.json"))
	s := New("https://example.teamwork.com")
	s.Lineage = "kill-test"
	if err := f.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("acked %d\n", s.Serial)
	for _, batch := range killSteps() {
		for _, m := range batch {
			if err := s.Apply(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Append(context.Background(), s, batch); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", s.Serial)
	}
	if err := f.Compact(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// TestJournalKilled kills a writer (this test binary, re-run) with SIGKILL inside each
// step of an append and of a compaction: afterwards the state loads, holds every batch
// whose Append returned and at most the one under way, whole, and takes more appends.
func TestJournalKilled(t *testing.T) {
	for _, point := range []string{stepJournalWrite, stepJournalTorn, stepJournalSync,
		stepWrite, stepSync, stepBackup, stepRename, stepSyncDir, stepJournalRemove} {
		for _, nth := range []int{1, 2, 5} {
			t.Run(fmt.Sprintf("%s:%d", point, nth), func(t *testing.T) {
				dir := t.TempDir()
				cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKillChild$")
				cmd.Env = append(os.Environ(), killChildEnv+"="+dir, fmt.Sprintf("%s=%s:%d", killHookEnv, point, nth))
				var out bytes.Buffer
				cmd.Stdout = &out
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("writer was not killed at %s:%d: %v\n%s", point, nth, err, out.String())
				}
				acked := int64(-1)
				sc := bufio.NewScanner(&out)
				for sc.Scan() {
					if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
						acked, _ = strconv.ParseInt(n, 10, 64)
					}
				}
				f := NewFile(filepath.Join(dir, "s.json"))
				got, err := f.Load(context.Background())
				if errors.Is(err, ErrNotExist) && acked < 0 {
					return // killed in the first save
				}
				if err != nil {
					t.Fatalf("Load after the kill (last acknowledged serial %d): %v", acked, err)
				}
				// Replay the writer's steps to the loaded serial: it must fall on a batch's
				// end, no earlier than the last acknowledged one and at most one batch later.
				want := New("https://example.teamwork.com")
				want.Lineage = "kill-test"
				want.Serial = 1
				steps := killSteps()
				batches := 0
				for want.Serial < got.Serial && batches < len(steps) {
					for _, m := range steps[batches] {
						if err := want.Apply(m); err != nil {
							t.Fatal(err)
						}
					}
					want.Serial += int64(len(steps[batches]))
					batches++
				}
				if want.Serial != got.Serial {
					t.Fatalf("loaded serial %d is not the end of a batch (nearest %d)", got.Serial, want.Serial)
				}
				lastStart := int64(-1) // the first Save's: before it, nothing
				if batches > 0 {
					lastStart = got.Serial - int64(len(steps[batches-1]))
				}
				if got.Serial < acked || got.Serial > acked && lastStart != acked {
					t.Errorf("loaded serial %d, last acknowledged %d", got.Serial, acked)
				}
				if encoded(t, got) != encoded(t, want) {
					t.Fatalf("loaded\n%s\nwant\n%s", encoded(t, got), encoded(t, want))
				}
				appendUpload(t, f, got, 99)
				again, err := loadFresh(t, f)
				if err != nil || encoded(t, again) != encoded(t, got) {
					t.Fatalf("Load after appending past the kill = %v", err)
				}
			})
		}
	}
}
