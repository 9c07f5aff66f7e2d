package plan

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
	"github.com/zeebo/blake3"
)

// file is one manifest entry for a test: its content and the attributes the manifest
// asks for (defaults filled by mkManifest as manifest.Load would).
type file struct {
	addr, content                        string
	filename, disposition, typ, mimeType string
}

// mkManifest writes the files under a fresh root and returns a manifest listing them,
// built directly so these tests do not depend on manifest.Load.
func mkManifest(t testing.TB, files ...file) *manifest.Manifest {
	t.Helper()
	root := t.TempDir()
	m := &manifest.Manifest{Path: filepath.Join(root, "desksync.yaml"), Root: root}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.addr))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
		m.Entries = append(m.Entries, entry(f))
	}
	slices.SortFunc(m.Entries, func(a, b manifest.Entry) int { return strings.Compare(a.Address, b.Address) })
	return m
}

func entry(f file) manifest.Entry {
	e := manifest.Entry{
		Address: f.addr, Resolved: f.addr,
		Filename: f.filename, Disposition: f.disposition, Type: f.typ, MimeType: f.mimeType,
		Pos: manifest.Position{File: "desksync.yaml", Line: 4, Column: 5},
	}
	if e.Filename == "" {
		e.Filename = filepath.Base(f.addr)
	}
	if e.Disposition == "" {
		e.Disposition = "attachment"
	}
	if e.Type == "" {
		e.Type = "attachment"
	}
	if e.MimeType == "" {
		e.MimeType = "image/png"
	}
	return e
}

// rawB3 is b3 unencoded, as the hash cache takes it.
func rawB3(content string) [32]byte { return blake3.Sum256([]byte(content)) }

func b3(content string) string {
	s := blake3.Sum256([]byte(content))
	return hex.EncodeToString(s[:])
}

// tracked is the state record desksync would have written after uploading f as it is.
func tracked(id int64, f file) *state.Attachment {
	e := entry(f)
	return &state.Attachment{
		ID: id, Filename: e.Filename, MimeType: e.MimeType, Disposition: e.Disposition, Type: e.Type,
		Size: int64(len(f.content)), Blake3: b3(f.content), State: "active",
		UploadedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
	}
}

func mkState(atts map[string]*state.Attachment) *state.State {
	if atts == nil {
		atts = map[string]*state.Attachment{}
	}
	return &state.State{
		Version: state.Version, Lineage: "4f1c9b0e-0000-4000-8000-000000000001", Serial: 12,
		Site: "https://example.teamwork.com", Attachments: atts,
	}
}
