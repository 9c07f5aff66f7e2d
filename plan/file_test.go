package plan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/state"
)

// samplePlan computes a plan with every action and both cleanups.
func samplePlan(t testing.TB) *Plan {
	t.Helper()
	logo := file{addr: "images/logo.png", content: "logo"}
	renamed := logo
	renamed.filename = "brand.png"
	guide := file{addr: "docs/guide.pdf", content: "guide v1", mimeType: "application/pdf"}
	guide2 := guide
	guide2.content = "guide v2"
	m := mkManifest(t, renamed, guide2, file{addr: "new.png", content: "new"})
	st := mkState(map[string]*state.Attachment{
		"images/logo.png": tracked(1, logo),
		"docs/guide.pdf":  tracked(2, guide),
		"old.png":         tracked(3, file{addr: "old.png", content: "old"}),
	})
	since := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	st.Pending = map[string]*state.Pending{"new.png": {ID: 130, Blake3: b3("new"), StartedAt: since}}
	st.Deposed = []state.Deposed{{Address: "docs/guide.pdf", ID: 118, Since: since}}
	p, err := Compute(context.Background(), m, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	p := samplePlan(t)
	if s := p.Summary(); s != (Summary{Create: 1, Update: 1, Replace: 1, Delete: 1, Cleanup: 2}) {
		t.Fatalf("sample plan summary = %+v", s)
	}
	path := filepath.Join(t.TempDir(), "plan.out")
	if err := Write(path, p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
	}

	data, _ := os.ReadFile(path)
	var head map[string]any
	if err := json.Unmarshal(data, &head); err != nil {
		t.Fatal(err)
	}
	if head["desksync_plan"] != 1.0 || head["format_version"] != "1" {
		t.Errorf("markers: desksync_plan=%v format_version=%v", head["desksync_plan"], head["format_version"])
	}
	if !strings.Contains(string(data), `"action": "replace"`) {
		t.Error(`actions are not written as words ("action": "replace" missing)`)
	}
	// Only the plan is left in the folder: no temp file survives a good Write.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("folder holds %d entries after Write, want 1", len(ents))
	}
	// Overwriting works, atomically replacing the old plan.
	p.Serial = 13
	if err := Write(path, p); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(path); err != nil || got.Serial != 13 {
		t.Errorf("after overwrite: serial %v, %v", got, err)
	}
}

func TestWriteIntoMissingFolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no", "plan.out")
	err := Write(path, samplePlan(t))
	if err == nil || !strings.HasPrefix(err.Error(), "writing plan "+path+": open ") {
		t.Fatalf("err = %v", err)
	}
	if h, ok := err.(interface{ Hint() string }); !ok || h.Hint() != "check that the folder exists and is writable" {
		t.Errorf("hint missing: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	good := samplePlan(t)
	goodJSON, err := json.Marshal(savedPlan{DesksyncPlan: 1, FormatVersion: "1", Plan: *good})
	if err != nil {
		t.Fatal(err)
	}
	// edit decodes the good plan as a generic object, changes it and re-encodes it.
	edit := func(f func(o map[string]any)) string {
		var o map[string]any
		if err := json.Unmarshal(goodJSON, &o); err != nil {
			t.Fatal(err)
		}
		f(o)
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	change := func(o map[string]any, i int) map[string]any { return o["changes"].([]any)[i].(map[string]any) }
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "not a desksync plan file: unexpected end of JSON input"},
		{"not JSON", "plan: yes", "not a desksync plan file: invalid character 'p' looking for beginning of value"},
		{"other JSON", `{"version": 1}`, `not a desksync plan file: no "desksync_plan" key`},
		{"newer", `{"desksync_plan": 2, "format_version": "2", "future": true}`, "plan file version 2 was made by a newer desksync; this one reads version 1"},
		{"version 0", `{"desksync_plan": 0}`, "unknown plan file version 0"},
		{"format_version", edit(func(o map[string]any) { o["format_version"] = "2" }), `format_version must be "1"`},
		{"unknown key", edit(func(o map[string]any) { o["apiKey"] = "secret" }), `json: unknown field "apiKey"`},
		{"trailing data", string(goodJSON) + "{}", "not a desksync plan file: invalid character '{' after top-level value"},
		{"unknown action", edit(func(o map[string]any) { change(o, 0)["action"] = "destroy" }),
			`unknown plan action "destroy" (want create, update, replace, delete, move or no-op)`},
		{"numeric action", edit(func(o map[string]any) { change(o, 0)["action"] = 1 }),
			"json: cannot unmarshal number into Go struct field Change.Plan.changes.action of type plan.Action"},
		{"no-op saved", edit(func(o map[string]any) { change(o, 0)["action"] = "no-op" }),
			"changes[0] (docs/guide.pdf): a saved plan holds no no-op changes"},
		{"create with before", edit(func(o map[string]any) { change(o, 1)["action"] = "create" }),
			`changes[1] (images/logo.png): a create has only "after"`},
		{"delete with after", edit(func(o map[string]any) { change(o, 0)["action"] = "delete" }),
			`changes[0] (docs/guide.pdf): a delete has only "before"`},
		{"update without before", edit(func(o map[string]any) { change(o, 2)["action"] = "update" }),
			`changes[2] (new.png): an update has both "before" and "after"`},
		{"unsorted", edit(func(o map[string]any) { change(o, 1)["address"] = "a.png" }),
			"changes[1] (a.png): changes are not sorted by address, or an address repeats"},
		{"after disagrees with files", edit(func(o map[string]any) { change(o, 2)["after"].(map[string]any)["size"] = 99 }),
			`changes[2] (new.png): "after" does not match files["new.png"]`},
		{"before without id", edit(func(o map[string]any) { delete(change(o, 3)["before"].(map[string]any), "id") }),
			`changes[3] (old.png): "before" has no Desk file id`},
		{"bad hash", edit(func(o map[string]any) {
			o["files"].(map[string]any)["new.png"] = map[string]any{"size": 3, "blake3": "abc"}
		}),
			`files["new.png"]: want a non-empty address, a size of 0 or more and a 64-digit hex blake3`},
		{"no files", edit(func(o map[string]any) { delete(o, "files") }), `missing "files"`},
		{"serial above 2^53", edit(func(o map[string]any) { o["serial"] = json.Number("9007199254740993") }),
			"serial 9007199254740993 is above 9007199254740992 (2^53), the largest serial a state may carry"},
		{"lineage without state", edit(func(o map[string]any) { o["stateExists"] = false }),
			"a plan made without state cannot have a lineage, serial or tracked count"},
		{"update aimed at another Desk file", edit(func(o map[string]any) { change(o, 1)["after"].(map[string]any)["id"] = 4242 }),
			`changes[1] (images/logo.png): "after" has the wrong Desk file id for an update`},
		{"previous_address on a delete", edit(func(o map[string]any) { change(o, 3)["previous_address"] = "x" }),
			`changes[3] (old.png): only a move has "previous_address"`},
		{"move without previous_address", edit(func(o map[string]any) { change(o, 1)["action"] = "move" }),
			`changes[1] (images/logo.png): a move has "before", "after" and another "previous_address"`},
		{"bad recorded max-delete", edit(func(o map[string]any) { o["madeWith"] = map[string]any{"maxDelete": "lots"} }),
			`madeWith.maxDelete: invalid --max-delete "lots": want a count such as 5 or a percentage from 0% to 100% such as 30%`},
		{"bad recorded target", edit(func(o map[string]any) { o["scope"] = map[string]any{"target": []string{"[x"}} }),
			`scope: --target "[x": not a valid glob`},
		{"bad cleanup", edit(func(o map[string]any) { o["cleanups"].([]any)[0].(map[string]any)["kind"] = "zombie" }),
			`cleanups[0]: want an address, a Desk file id and kind "pending" or "deposed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "plan.out")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			want := "reading plan " + path + ": " + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if h, ok := err.(interface{ Hint() string }); !ok || !strings.Contains(h.Hint(), `"desksync plan --out FILE"`) {
				t.Errorf("hint missing: %v", err)
			}
		})
	}
}

func TestReadRefusesHugeFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no real disk is used.
	if err := f.Truncate(MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Read(path)
	want := "reading plan " + path + ": larger than 64.0 MiB, so not a desksync plan"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestReadMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.out")
	_, err := Read(path)
	want := "reading plan " + path + ": open " + path + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func FuzzReadPlan(f *testing.F) {
	p := samplePlan(f)
	sample := p
	good, err := json.Marshal(savedPlan{DesksyncPlan: 1, FormatVersion: "1", Plan: *p})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"desksync_plan":1,"format_version":"1","changes":[],"files":{},"stateExists":false,"serial":0,"tracked":0}`))
	f.Add([]byte(`{"desksync_plan":2}`))
	f.Add([]byte(`{"desksync_plan":1,"format_version":"1","changes":null,"files":{"a":{"size":-1,"blake3":""}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	// Hostile saved plans: a plan file may come from a CI artifact anyone could swap.
	for _, seed := range []string{
		`{"desksync_plan":1,"format_version":"1","changes":[{"address":"../../etc/passwd","action":"create"}],"files":{"../../etc/passwd":{"size":1,"blake3":"` + strings.Repeat("0", 64) + `"}}}`,
		`{"desksync_plan":1,"format_version":"1","changes":[{"address":"/etc/passwd","action":"delete","before":{"id":-1}}]}`,
		`{"desksync_plan":1,"format_version":"1","changes":[{"address":"a","action":"explode"}]}`,
		`{"desksync_plan":1,"format_version":"1","changes":[{"address":"a","action":"create"},{"address":"a","action":"create"}]}`,
		`{"desksync_plan":1,"desksync_plan":2,"format_version":"1"}`,
		`{"desksync_plan":1e999,"format_version":"1"}`,
		`{"desksync_plan":1,"format_version":"1","serial":99999999999999999999999}`,
		`{"desksync_plan":1,"format_version":"1","files":{"a":{"size":9223372036854775807,"blake3":"zz"}}}`,
		"{\"desksync_plan\":1,\"format_version\":\"1\",\"lineage\":\"\xff\xfe\",\"files\":{\"\xc3\":{}}}",
		`{"desksync_plan":1,"format_version":"1","lineage":"\u0000\ud800"}`,
		`{"desksync_plan":1,"format_version":"1","changes":` + strings.Repeat("[", 10000) + `}`,
		`{"desksync_plan":1,"format_version":"1","unknown":true}`,
		`{"desksync_plan":1,"format_version":"1"} trailing`,
		// A move, the recorded options and a scope, valid and forged.
		`{"desksync_plan":1,"format_version":"1","changes":[{"address":"b","previous_address":"a","action":"move","before":{"id":3,"blake3":"` + strings.Repeat("a", 64) + `"},"after":{"id":3,"size":1,"blake3":"` + strings.Repeat("a", 64) + `"},"reasons":["moved from a"]}],"files":{"b":{"size":1,"blake3":"` + strings.Repeat("a", 64) + `"}},"stateExists":true,"serial":1,"tracked":1}`,
		`{"desksync_plan":1,"format_version":"1","changes":[{"address":"a","action":"delete","before":{"id":3}},{"address":"b","previous_address":"a","action":"move","before":{"id":3},"after":{"id":4}}],"files":{}}`,
		`{"desksync_plan":1,"format_version":"1","files":{},"scope":{"target":["**/*.png",""],"exclude":[]},"refreshed":true}`,
		`{"desksync_plan":1,"format_version":"1","files":{},"madeWith":{"manifest":"../../etc/desksync.yaml","state":"/tmp/x\u0000y","sandbox":true,"site":"https://evil.example","maxDelete":"100%","maxFileSize":-5}}`,
		`{"desksync_plan":1,"format_version":"1","files":{},"cleanups":[{"address":"a","id":9,"kind":"deposed","filename":"x","size":-1}]}`,
		`null`, `{`, "\ufeff{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePlan(data)
		if err != nil {
			return
		}
		// Whatever decodes must satisfy the invariants apply relies on, and must
		// survive a write and a read unchanged.
		if err := p.validate(); err != nil {
			t.Fatalf("decoded plan fails validate: %v", err)
		}
		again, err := json.Marshal(savedPlan{DesksyncPlan: 1, FormatVersion: "1", Plan: *p})
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		p2, err := decodePlan(again)
		if err != nil {
			t.Fatalf("re-decoding: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the plan:\n%+v\n%+v", p, p2)
		}
		// A plan verifies against itself, and comparing it with any other plan
		// names a difference rather than failing some other way.
		if err := Verify(p, p2); err != nil {
			t.Fatalf("a plan does not verify against its own copy: %v", err)
		}
		var me *MismatchError
		if err := Verify(p, sample); err != nil && !errors.As(err, &me) {
			t.Fatalf("Verify against another plan: %v", err)
		}
	})
}
