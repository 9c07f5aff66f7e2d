package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestHashMatchesBLAKE3(t *testing.T) {
	t.Parallel()
	// Sizes around the worker's read buffer catch a dropped or repeated tail.
	var files []file
	for i, n := range []int{0, 1, 1023, 1024, hashBufferSize - 1, hashBufferSize, hashBufferSize + 1, 3*hashBufferSize + 17} {
		files = append(files, file{addr: fmt.Sprintf("f%02d.bin", i), content: strings.Repeat(string(rune('a'+i)), n)})
	}
	m := mkManifest(t, files...)
	for _, workers := range []int{0, 1, 3, 100} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			got, err := Hash(context.Background(), m, workers)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(files) {
				t.Fatalf("%d digests, want %d", len(got), len(files))
			}
			for _, f := range files {
				want := FileDigest{Size: int64(len(f.content)), Blake3: b3(f.content)}
				if got[f.addr] != want {
					t.Errorf("%s: %+v, want %+v", f.addr, got[f.addr], want)
				}
			}
		})
	}
}

func TestHashEmptyManifest(t *testing.T) {
	t.Parallel()
	got, err := Hash(context.Background(), mkManifest(t), 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Hash(empty) = %v, %v", got, err)
	}
}

func TestHashCancelled(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "a", content: "a"}, file{addr: "b", content: "b"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, m, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
