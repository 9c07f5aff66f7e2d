package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

// FileVersion is the saved-plan format this build writes and the newest it reads; a
// plan file says it in its "desksync_plan" key.
const FileVersion = 1

// fileFormatVersion mirrors the JSON document's format_version; both must match.
const fileFormatVersion = "1"

// MaxFileBytes caps how much of a plan file Read will look at. A plan for the
// manifest's 10,000-entry maximum is a few MiB; the cap keeps a hostile or mistaken
// file (a plan path pointing at a disk image) from exhausting memory.
const MaxFileBytes = 64 << 20

// savedPlan is the on-disk form: the Plan plus two version markers, so a reader knows
// at once whether it is a desksync plan and whether it can read it.
type savedPlan struct {
	DesksyncPlan  int    `json:"desksync_plan"`
	FormatVersion string `json:"format_version"`
	Plan
}

// Write saves p to path atomically, so a crash leaves either the old file or the new
// one, never half of one. A plan holds no credential. The file is readable by its
// owner only (os.CreateTemp's 0600), as it lists what a pipeline is about to upload.
func Write(path string, p *Plan) error {
	if p == nil {
		return errors.New("plan: Write given no plan")
	}
	data, err := json.MarshalIndent(savedPlan{DesksyncPlan: FileVersion, FormatVersion: fileFormatVersion, Plan: *p}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding plan for %s: %w", path, err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return hint.Wrap(fmt.Errorf("writing plan %s: %w", path, err), "check that the folder exists and is writable")
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing plan %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing plan %s: %w", path, err)
	}
	// Close, then rename: Windows refuses to rename an open file.
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing plan %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("writing plan %s: %w", path, err)
	}
	ok = true
	// The rename is durable only once the folder is synced; not every OS can open a
	// folder for that, and the plan is already complete, so a failure here is ignored.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Read loads a plan saved by Write. Decoding is strict: unknown keys, a missing or
// newer version, a malformed hash or an action that contradicts its before/after are
// refused, since apply will act on exactly what this returns.
func Read(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("reading plan %s: %w", path, err), `make a plan with "desksync plan --out FILE" first`)
	}
	defer f.Close()
	tooBig := hint.New(fmt.Sprintf("reading plan %s: larger than %s, so not a desksync plan", path, FormatSize(MaxFileBytes)),
		`check the path, or make the plan again with "desksync plan --out FILE"`)
	// Stat first so a wrong path to a big file fails at once; the LimitReader still
	// guards pipes and files that grow.
	if fi, err := f.Stat(); err == nil && fi.Size() > MaxFileBytes {
		return nil, tooBig
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading plan %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, tooBig
	}
	p, err := decodePlan(data)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("reading plan %s: %w", path, err),
			`make the plan again with "desksync plan --out FILE"; plan files are not meant to be edited`)
	}
	return p, nil
}

// decodePlan parses and checks a saved plan; it is the fuzz target.
func decodePlan(data []byte) (*Plan, error) {
	// Look at the version first, loosely: a newer plan may carry keys this build does
	// not know, and "made by a newer desksync" is the useful message then.
	var head struct {
		DesksyncPlan  *int    `json:"desksync_plan"`
		FormatVersion *string `json:"format_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a desksync plan file: %v", err)
	}
	if head.DesksyncPlan == nil {
		return nil, errors.New(`not a desksync plan file: no "desksync_plan" key`)
	}
	if v := *head.DesksyncPlan; v != FileVersion {
		if v > FileVersion {
			return nil, fmt.Errorf("plan file version %d was made by a newer desksync; this one reads version %d", v, FileVersion)
		}
		return nil, fmt.Errorf("unknown plan file version %d", v)
	}
	if head.FormatVersion == nil || *head.FormatVersion != fileFormatVersion {
		return nil, fmt.Errorf("format_version must be %q", fileFormatVersion)
	}

	var sp savedPlan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the plan")
	}
	p := sp.Plan
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// isHexDigest reports whether s is a BLAKE3-256 digest as Hash writes it.
func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validate checks the invariants Compute guarantees, so apply can rely on them for a
// plan read from disk as much as for one computed in memory.
func (p *Plan) validate() error {
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	if p.Files == nil {
		return errors.New(`missing "files"`)
	}
	if p.Serial < 0 || p.Tracked < 0 {
		return errors.New("negative serial or tracked count")
	}
	if p.Serial > state.MaxSerial {
		return fmt.Errorf("serial %d is above %d (2^53), the largest serial a state may carry", p.Serial, int64(state.MaxSerial))
	}
	if !p.StateExists && (p.Lineage != "" || p.Serial != 0 || p.Tracked != 0) {
		return errors.New("a plan made without state cannot have a lineage, serial or tracked count")
	}
	if p.ManifestDigest != "" && !isHexDigest(p.ManifestDigest) {
		return errors.New("manifestDigest is not a 64-digit hex BLAKE3")
	}
	for addr, d := range p.Files {
		if addr == "" || d.Size < 0 || !isHexDigest(d.Blake3) {
			return fmt.Errorf("files[%q]: want a non-empty address, a size of 0 or more and a 64-digit hex blake3", addr)
		}
	}
	if p.Made.MaxDelete != "" {
		if _, err := ParseDeleteLimit(p.Made.MaxDelete); err != nil {
			return fmt.Errorf("madeWith.maxDelete: %v", err)
		}
	}
	if p.Made.MaxFileSize < 0 {
		return errors.New("madeWith.maxFileSize is negative")
	}
	for _, path := range []string{p.Made.Manifest, p.Made.State} {
		if strings.ContainsRune(path, 0) {
			return errors.New("madeWith: a path holds a NUL byte")
		}
	}
	scope, err := NewScope(p.Scope.Target, p.Scope.Exclude)
	if err != nil {
		return fmt.Errorf("scope: %v", err)
	}
	p.Scope = scope
	if len(p.Replace) > 0 {
		replace, err := NewReplace(p.Replace)
		if err != nil || !slices.Equal(replace, p.Replace) {
			return errors.New(`"replace" must list addresses, sorted and each once`)
		}
		for _, a := range p.Replace {
			i, ok := slices.BinarySearchFunc(p.Changes, a, func(c Change, a string) int { return strings.Compare(c.Address, a) })
			// A file refresh found gone from Desk is uploaded anew: a create.
			if !ok || p.Changes[i].Action != Replace && !(p.Refreshed && p.Changes[i].Action == Create) {
				return fmt.Errorf("replace: the plan has no replace of %q", a)
			}
		}
	}
	prev := ""
	acted := map[string]bool{}
	for i, c := range p.Changes {
		where := fmt.Sprintf("changes[%d] (%s)", i, c.Address)
		if c.Address == "" {
			return fmt.Errorf("changes[%d]: empty address", i)
		}
		if i > 0 && c.Address <= prev {
			return fmt.Errorf("%s: changes are not sorted by address, or an address repeats", where)
		}
		prev = c.Address
		if c.PreviousAddress != "" && c.Action != Move {
			return fmt.Errorf("%s: only a move has \"previous_address\"", where)
		}
		switch c.Action {
		case Create:
			if c.Before != nil || c.After == nil {
				return fmt.Errorf("%s: a create has only \"after\"", where)
			}
		case Delete:
			if c.Before == nil || c.After != nil {
				return fmt.Errorf("%s: a delete has only \"before\"", where)
			}
		case Update, Replace:
			if c.Before == nil || c.After == nil {
				return fmt.Errorf("%s: an %s has both \"before\" and \"after\"", where, c.Action)
			}
		case Move:
			if c.Before == nil || c.After == nil || c.PreviousAddress == "" || c.PreviousAddress == c.Address {
				return fmt.Errorf("%s: a move has \"before\", \"after\" and another \"previous_address\"", where)
			}
			if acted[c.PreviousAddress] {
				return fmt.Errorf("%s: %s is moved twice", where, c.PreviousAddress)
			}
			acted[c.PreviousAddress] = true
		default:
			return fmt.Errorf("%s: a saved plan holds no %s changes", where, c.Action)
		}
		if c.After != nil {
			d, ok := p.Files[c.Address]
			if !ok || d.Blake3 != c.After.Blake3 || d.Size != c.After.Size {
				return fmt.Errorf("%s: \"after\" does not match files[%q]", where, c.Address)
			}
		}
		if c.Before != nil && c.Before.ID <= 0 {
			return fmt.Errorf("%s: \"before\" has no Desk file id", where)
		}
		// An update or a move acts on the Desk file it already has; any other after
		// is a new upload, which has no ID yet.
		keeps := c.Action == Update || c.Action == Move
		if c.After != nil && (keeps && c.After.ID != c.Before.ID || !keeps && c.After.ID != 0) {
			return fmt.Errorf("%s: \"after\" has the wrong Desk file id for an %s", where, c.Action)
		}
	}
	for _, c := range p.Changes {
		if c.Action != Move && acted[c.Address] {
			return fmt.Errorf("changes (%s): an address moved away has a change of its own", c.Address)
		}
	}
	for i, c := range p.Cleanups {
		if c.Address == "" || c.ID <= 0 || c.Size < 0 || (c.Kind != CleanupPending && c.Kind != CleanupDeposed) {
			return fmt.Errorf("cleanups[%d]: want an address, a Desk file id and kind %q or %q", i, CleanupPending, CleanupDeposed)
		}
	}
	return nil
}
