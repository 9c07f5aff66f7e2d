package plan

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/desksync/desksync/state"
	"github.com/zeebo/blake3"
)

// DefaultMaxFileSize is the largest file Compute accepts unless Options.MaxFileSize
// says otherwise: 5 GiB, the most one S3 POST (step 2 of an upload) may carry.
const DefaultMaxFileSize int64 = 5 << 30

// Options tune Compute. The zero value is the documented default for every field.
type Options struct {
	// Workers is how many files are hashed at once; 0 means runtime.NumCPU().
	Workers int
	// HashCache, when set, supplies the digests of files whose stat data it knows and
	// learns the others; nil reads every file (see package hashcache).
	HashCache *hashcache.Cache
	// MaxFileSize refuses, at plan time, any file larger than this many bytes; 0 means
	// DefaultMaxFileSize and a negative value means no limit.
	MaxFileSize int64
	// DeleteLimit is the mass-delete guard whose breach Compute records in
	// Plan.Warnings (apply enforces it with CheckDeletes). The zero value is
	// DefaultDeleteLimit().
	DeleteLimit DeleteLimit
	// Scope limits the plan to some addresses, deletes and cleanups included.
	Scope Scope
	// Drift holds notes by address from reading Desk back (`plan --refresh`, package
	// refresh), e.g. `filename changed on Desk: "a" -> "b"`. Compute puts them first
	// in the Reasons of that address's change, so a reviewer sees why a change that
	// nobody made in git is planned. Addresses without a change are ignored.
	Drift map[string][]string
	// Refreshed says the state given to Compute was read back from Desk first.
	Refreshed bool
	// Replace lists addresses (as NewReplace returns them) to replace whatever the
	// hashes say: each must be tracked, listed and in Scope, or Compute fails.
	Replace []string
}

// Compute compares the manifest, with every file hashed, against the state (nil when
// no state file exists yet) and returns what apply would do, per the action table of
// docs/plans.md. It prints nothing; view renders the result.
func Compute(ctx context.Context, m *manifest.Manifest, st *state.State, opts Options) (*Plan, error) {
	if m == nil {
		return nil, errors.New("plan: no manifest given")
	}
	if opts.Scope.Partial() {
		if err := opts.Scope.check(knownAddresses(m, st)); err != nil {
			return nil, err
		}
	}
	if err := checkReplace(opts.Replace, m, st, opts.Scope); err != nil {
		return nil, err
	}
	var listed map[string]bool // what the whole manifest lists, for a partial scope
	if opts.Scope.Partial() {
		listed = make(map[string]bool, len(m.Entries))
		for _, e := range m.Entries {
			listed[e.Address] = true
		}
	}
	m = opts.Scope.planned(m, st)
	maxSize := opts.MaxFileSize
	switch {
	case maxSize == 0:
		maxSize = DefaultMaxFileSize
	case maxSize < 0:
		maxSize = 0 // hashAll's "no limit"
	}
	// The manifest's digest needs only the entries: it is taken beside the hash pass
	// and the comparison instead of after them.
	manifestSum := make(chan string, 1)
	go func() { manifestSum <- manifestDigest(m) }()
	digests, err := hashAll(ctx, m, opts.Workers, maxSize, opts.HashCache)
	if err != nil {
		return nil, err
	}
	// The map by address is the plan's record of every file; Compute's own pass goes
	// by index, so the map is built beside it.
	var files map[string]FileDigest
	filesDone := make(chan struct{})
	go func() {
		defer close(filesDone)
		files = byAddress(m, digests)
	}()

	p := &Plan{
		Changes:     []Change{},
		StateExists: st != nil,
		Scope:       opts.Scope,
		Refreshed:   opts.Refreshed,
		Replace:     opts.Replace,
	}
	replace := map[string]bool{}
	for _, a := range opts.Replace {
		replace[a] = true
	}
	// tracked is read, never written: without a scope it is the state's own map.
	var tracked map[string]*state.Attachment
	if st != nil {
		p.Lineage, p.Serial, p.Tracked = st.Lineage, st.Serial, len(st.Attachments)
		tracked = st.Attachments
	}
	if opts.Scope.Partial() && st != nil {
		tracked = make(map[string]*state.Attachment, len(st.Attachments))
		for addr, att := range st.Attachments {
			// A tracked address outside the scope that the manifest no longer lists
			// may be the old half of a move into it; unpaired, it is left out below.
			if opts.Scope.Match(addr) || !listed[addr] {
				tracked[addr] = att
			}
		}
	}

	// Sized once: at 50,000 new files, growing by doubling held three arrays at once.
	creates := make([]Change, 0, max(0, len(m.Entries)-len(tracked)))
	var deletes []Change
	matched := 0 // tracked addresses the manifest lists
	for i, e := range m.Entries {
		d := digests[i]
		// A value: most tracked files are unchanged, and only a change keeps a copy.
		after := Attrs{
			Filename:    e.Filename,
			MimeType:    e.MimeType,
			Disposition: e.Disposition,
			Type:        e.Type,
			Size:        d.Size,
			Blake3:      d.Blake3,
		}
		att := tracked[e.Address]
		if att != nil {
			matched++
		}
		switch {
		case att == nil:
			creates = append(creates, Change{
				Address: e.Address, Action: Create, After: ptr(after),
				Reasons: []string{"new file, " + FormatSize(d.Size)},
			})
		case !active(att):
			// refresh found the Desk file gone (or otherwise unusable): upload it anew.
			p.Changes = append(p.Changes, Change{
				Address: e.Address, Action: Create, After: ptr(after),
				Reasons: []string{fmt.Sprintf("file %d is %s on Desk; uploading it again, %s", att.ID, att.State, FormatSize(d.Size))},
			})
		default:
			before := *attrsOf(att)
			c, ok := compare(e.Address, before, after)
			if replace[e.Address] {
				c, ok = forceReplace(e.Address, ptr(before), after, c, ok), true
			}
			if ok {
				p.Changes = append(p.Changes, c)
			}
		}
	}
	if matched < len(tracked) { // else each is listed: nothing to delete
		<-filesDone
		for addr, att := range tracked {
			if _, wanted := files[addr]; !wanted && att != nil { // files has every planned address
				deletes = append(deletes, Change{
					Address: addr, Action: Delete, Before: attrsOf(att),
					Reasons: []string{"not in the manifest"},
				})
			}
		}
	}
	moves := pairMoves(creates, deletes, tracked)
	p.Changes = slices.Grow(p.Changes, len(moves)) // once, not by doubling
	for _, c := range moves {
		// A move is in scope when either of its addresses is: leaving out its other
		// half would turn it into a create (a new Desk ID) or a delete.
		in, prevIn := opts.Scope.Match(c.Address), c.PreviousAddress != "" && opts.Scope.Match(c.PreviousAddress)
		switch {
		case !in && !prevIn:
			continue
		case c.Action == Move && in != prevIn:
			outside := c.PreviousAddress
			if !in {
				outside = c.Address
			}
			c.Reasons = append(c.Reasons, fmt.Sprintf("%s is outside %s: a move is planned when either of its addresses is selected", outside, opts.Scope))
		}
		p.Changes = append(p.Changes, c)
	}
	slices.SortFunc(p.Changes, func(a, b Change) int { return strings.Compare(a.Address, b.Address) })
	for i, c := range p.Changes {
		if notes := opts.Drift[c.Address]; len(notes) > 0 {
			p.Changes[i].Reasons = append(slices.Clone(notes), c.Reasons...)
		}
	}

	if st != nil {
		for addr, pe := range st.Pending {
			if pe == nil || !opts.Scope.Match(addr) {
				continue
			}
			p.Cleanups = append(p.Cleanups, Cleanup{Address: addr, ID: pe.ID, Kind: CleanupPending, Blake3: pe.Blake3,
				Filename: pe.Filename, Size: pe.Size, Since: pe.StartedAt})
		}
		for _, d := range st.Deposed {
			if !opts.Scope.Match(d.Address) {
				continue
			}
			p.Cleanups = append(p.Cleanups, Cleanup{Address: d.Address, ID: d.ID, Kind: CleanupDeposed,
				Filename: d.Filename, Size: d.Size, Since: d.Since})
		}
		slices.SortFunc(p.Cleanups, func(a, b Cleanup) int {
			return cmp.Or(strings.Compare(a.Address, b.Address), strings.Compare(string(a.Kind), string(b.Kind)), cmp.Compare(a.ID, b.ID))
		})
	}

	for _, w := range m.Warnings {
		p.Warnings = append(p.Warnings, w.Error()+"; "+w.Hint())
	}
	<-filesDone
	p.Files = files
	p.ManifestDigest = <-manifestSum
	if err := p.CheckDeletes(opts.DeleteLimit); err != nil {
		var md *MassDeleteError
		if errors.As(err, &md) {
			p.Warnings = append(p.Warnings, md.Error()+"; "+md.Hint())
		} else {
			p.Warnings = append(p.Warnings, err.Error())
		}
	}
	return p, nil
}

// knownAddresses lists every address of m and st (tracked, pending or deposed), the
// addresses a --target or --exclude pattern may name.
func knownAddresses(m *manifest.Manifest, st *state.State) []string {
	var addrs []string
	for _, e := range m.Entries {
		addrs = append(addrs, e.Address)
	}
	if st != nil {
		for a := range st.Attachments {
			addrs = append(addrs, a)
		}
		for a := range st.Pending {
			addrs = append(addrs, a)
		}
		for _, d := range st.Deposed {
			addrs = append(addrs, d.Address)
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs)
}

// active reports whether att is a usable Desk file; refresh marks the others.
func active(att *state.Attachment) bool { return att.State == "" || att.State == "active" }

// contentKey is what must be equal for a new address to keep a gone address's Desk
// file: a PATCH can change neither the bytes nor the mimeType or type.
type contentKey struct {
	blake3, mimeType, typ string
	size                  int64
}

// pairMoves turns a create and a delete with the same content into one Move, pairing
// them one to one in sorted address order, and returns the resulting changes.
func pairMoves(creates, deletes []Change, tracked map[string]*state.Attachment) []Change {
	gone := map[contentKey][]string{}
	for _, d := range deletes {
		if active(tracked[d.Address]) {
			b := d.Before
			k := contentKey{b.Blake3, b.MimeType, b.Type, b.Size}
			gone[k] = append(gone[k], d.Address)
		}
	}
	for _, addrs := range gone {
		slices.Sort(addrs)
	}
	slices.SortFunc(creates, func(a, b Change) int { return strings.Compare(a.Address, b.Address) })
	if len(deletes) == 0 {
		return creates
	}
	moved := map[string]bool{}
	out := make([]Change, 0, len(creates)+len(deletes))
	for _, c := range creates {
		a := c.After
		k := contentKey{a.Blake3, a.MimeType, a.Type, a.Size}
		if len(gone[k]) == 0 {
			out = append(out, c)
			continue
		}
		from := gone[k][0]
		gone[k] = gone[k][1:]
		moved[from] = true
		before := attrsOf(tracked[from])
		after := *a
		after.ID = before.ID
		reasons := []string{"moved from " + from}
		if before.Filename != after.Filename {
			reasons = append(reasons, fmt.Sprintf("filename: %q -> %q", before.Filename, after.Filename))
		}
		if before.Disposition != after.Disposition {
			reasons = append(reasons, fmt.Sprintf("disposition: %q -> %q", before.Disposition, after.Disposition))
		}
		out = append(out, Change{Address: c.Address, PreviousAddress: from, Action: Move, Before: before, After: &after, Reasons: reasons})
	}
	for _, d := range deletes {
		if !moved[d.Address] {
			out = append(out, d)
		}
	}
	return out
}

// compare decides between Update, Replace and no-op for a tracked address. Content,
// mimeType and type cannot be changed on Desk in place, so any of them means a new
// upload; filename and disposition alone are a PATCH.
func compare(addr string, before, after Attrs) (Change, bool) {
	var reasons []string
	replace := false
	if before.Filename != after.Filename {
		reasons = append(reasons, fmt.Sprintf("filename: %q -> %q", before.Filename, after.Filename))
	}
	if before.Disposition != after.Disposition {
		reasons = append(reasons, fmt.Sprintf("disposition: %q -> %q", before.Disposition, after.Disposition))
	}
	if before.Blake3 != after.Blake3 {
		replace = true
		reasons = append(reasons, fmt.Sprintf("content changed, %s -> %s", FormatSize(before.Size), FormatSize(after.Size)))
	}
	if before.MimeType != after.MimeType {
		replace = true
		reasons = append(reasons, fmt.Sprintf("mimeType: %q -> %q", before.MimeType, after.MimeType))
	}
	if before.Type != after.Type {
		replace = true
		reasons = append(reasons, fmt.Sprintf("type: %q -> %q", before.Type, after.Type))
	}
	if len(reasons) == 0 {
		return Change{}, false
	}
	// Keep the Desk file ID with After too: an Update PATCHes that same file.
	c := Change{Address: addr, Action: Update, Before: ptr(before), After: ptr(after), Reasons: reasons}
	if replace {
		c.Action = Replace
	} else {
		c.After.ID = before.ID
	}
	return c, true
}

// ptr returns a pointer to a copy of a.
func ptr(a Attrs) *Attrs { return &a }

func attrsOf(a *state.Attachment) *Attrs {
	return &Attrs{
		ID:          a.ID,
		Filename:    a.Filename,
		MimeType:    a.MimeType,
		Disposition: a.Disposition,
		Type:        a.Type,
		Size:        a.Size,
		Blake3:      a.Blake3,
	}
}

// manifestDigest hashes every entry's address and desired attributes; see
// Plan.ManifestDigest.
func manifestDigest(m *manifest.Manifest) string {
	entries := m.Entries
	byAddress := func(a, b manifest.Entry) int { return strings.Compare(a.Address, b.Address) }
	if !slices.IsSortedFunc(entries, byAddress) { // Load sorts them; a hand-built manifest may not
		entries = slices.Clone(entries)
		slices.SortFunc(entries, byAddress)
	}
	h := blake3.New()
	var buf []byte
	for _, e := range entries {
		// Length-prefixed, so no value can imitate a field boundary.
		for _, f := range []string{e.Address, e.Filename, e.Disposition, e.Type, e.MimeType} {
			buf = append(append(append(strconv.AppendInt(buf, int64(len(f)), 10), ':'), f...), ',')
		}
		if buf = append(buf, '\n'); len(buf) >= 64<<10 { // written in large pieces, not one per entry
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// Description says what c is, where it came from and what apply will do about it,
// for renderers. A pending record is always an apply's; a deposed one may be an
// apply's or the merge driver's, and the state does not say which, so both are named.
func (c Cleanup) Description() string {
	file := fmt.Sprintf("file %d", c.ID)
	if c.Filename != "" {
		file = fmt.Sprintf("file %d (%q, %s)", c.ID, c.Filename, FormatSize(c.Size))
	}
	switch c.Kind {
	case CleanupPending:
		return "unfinished upload: temp " + file + " of an earlier apply that failed or was interrupted before activating it; it will be checked and removed or adopted"
	case CleanupDeposed:
		return "old " + file + " not yet deleted: left by the replace of an earlier apply that failed or was interrupted before its delete, " +
			`or by "desksync state merge" when both branches changed this address; it will be deleted`
	default:
		return fmt.Sprintf("unknown cleanup %q for %s", c.Kind, file)
	}
}

// Summary counts a plan's changes by action, and its cleanups. Counts added after the
// first four are new JSON keys (docs/plans.md).
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Replace int `json:"replace"`
	Delete  int `json:"delete"`
	Move    int `json:"move"`
	Cleanup int `json:"cleanup"`
}

// Summary counts p's changes by action, and its cleanups.
func (p *Plan) Summary() Summary {
	s := Summary{Cleanup: len(p.Cleanups)}
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Create++
		case Update:
			s.Update++
		case Replace:
			s.Replace++
		case Delete:
			s.Delete++
		case Move:
			s.Move++
		}
	}
	return s
}

// HasChanges reports whether apply would do anything: a change or a cleanup. It
// drives `plan --detailed-exitcode`.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != NoOp {
			return true
		}
	}
	return len(p.Cleanups) > 0
}
