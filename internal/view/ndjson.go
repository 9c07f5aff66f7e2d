package view

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/plan"
)

// ndjsonProgressInterval is the least time between two "progress" events of one
// upload: four a second is live enough for a dashboard and keeps a 1 GiB upload from
// flooding a CI log.
const ndjsonProgressInterval = 250 * time.Millisecond

// NDJSONEvent is one line of `apply --format json` output. Every line has Type and
// Time; the other fields are present where they apply (see docs/ndjson.md). No event
// ever carries a credential, a presigned URL or a policy signature: only addresses,
// Desk file IDs, sizes and error messages.
type NDJSONEvent struct {
	Type string `json:"type"`
	Time string `json:"time"`

	Address string `json:"address,omitempty"`
	Action  string `json:"action,omitempty"`
	Kind    string `json:"kind,omitempty"`
	ID      int64  `json:"id,omitempty"`
	PrevID  int64  `json:"prev_id,omitempty"`
	// PreviousAddress is, for a move, the address the file was tracked at.
	PreviousAddress string `json:"previous_address,omitempty"`
	Adopted         bool   `json:"adopted,omitempty"`
	// Bytes is how much of an upload has been sent (progress) or was sent (done).
	Bytes *int64 `json:"bytes,omitempty"`
	// Total is the size of an upload (start, progress).
	Total *int64 `json:"total,omitempty"`
	Error string `json:"error,omitempty"`
	Hint  string `json:"hint,omitempty"`

	// Plan is the plan document (type "plan").
	Plan any `json:"plan,omitempty"`
	// Summary is the final counts (type "summary").
	Summary *NDJSONSummary `json:"summary,omitempty"`
}

// NDJSONSummary is the body of the "summary" event.
type NDJSONSummary struct {
	Created    int             `json:"created"`
	Updated    int             `json:"updated"`
	Replaced   int             `json:"replaced"`
	Deleted    int             `json:"deleted"`
	Moved      int             `json:"moved"`
	Cleaned    int             `json:"cleaned"`
	Total      int             `json:"total"`
	Failed     []NDJSONFailure `json:"failed"`
	NotStarted []NDJSONFailure `json:"not_started"`
	// NotFinished lists the changes cut short by a hard stop (a second Ctrl-C): not
	// failures, the next apply finishes them.
	NotFinished []NDJSONFailure `json:"not_finished"`
}

// NDJSONFailure is one failed or not-started change in the summary.
type NDJSONFailure struct {
	Address string `json:"address"`
	Action  string `json:"action"`
	Error   string `json:"error"`
}

// NewNDJSON returns an apply.Progress that writes one JSON object per line to w:
// "start", throttled "progress", "done" or "error" per action, and a final "summary".
// now stamps every event (tests pass a fixed clock). It is safe for concurrent use;
// each event is written with a single Write.
func NewNDJSON(w io.Writer, now func() time.Time) apply.Progress {
	if now == nil {
		now = time.Now
	}
	return &ndjsonProgress{w: w, now: now, uploads: map[string]*ndjsonUpload{}}
}

type ndjsonProgress struct {
	now func() time.Time

	mu      sync.Mutex
	w       io.Writer
	uploads map[string]*ndjsonUpload
}

// ndjsonUpload throttles the progress events of one running upload.
type ndjsonUpload struct {
	action   string
	total    int64
	lastTime time.Time
	lastSent int64
	emitted  bool
}

func (p *ndjsonProgress) Begin(apply.Totals) {}

func (p *ndjsonProgress) Start(ev apply.Event) {
	e := p.event("start", ev)
	if ev.Size > 0 {
		e.Total = ndjsonInt(ev.Size)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Size > 0 {
		p.uploads[ev.Address] = &ndjsonUpload{action: ev.Action, total: ev.Size}
	}
	p.write(e)
}

func (p *ndjsonProgress) Advance(address string, sent int64) {
	t := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.uploads[address]
	if u == nil || sent == u.lastSent {
		return
	}
	// Always report the end of an upload; otherwise at most one event per interval.
	if u.emitted && sent != u.total && t.Sub(u.lastTime) < ndjsonProgressInterval {
		return
	}
	u.emitted, u.lastTime, u.lastSent = true, t, sent
	p.write(NDJSONEvent{
		Type: "progress", Time: ndjsonTime(t), Address: address, Action: u.action,
		Bytes: ndjsonInt(sent), Total: ndjsonInt(u.total),
	})
}

func (p *ndjsonProgress) Finish(ev apply.Event, err error) {
	var e NDJSONEvent
	if err != nil {
		e = p.event("error", ev)
		e.Error = progressError(ev.Address, err)
		if h := progressHint(err); h != "" {
			e.Hint = h
		}
	} else {
		e = p.event("done", ev)
		if ev.Size > 0 {
			e.Bytes = ndjsonInt(ev.Size)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.uploads, ev.Address)
	p.write(e)
}

func (p *ndjsonProgress) End(r *apply.Result) {
	s := &NDJSONSummary{Failed: []NDJSONFailure{}, NotStarted: []NDJSONFailure{}, NotFinished: []NDJSONFailure{}}
	if r != nil {
		s.Created, s.Updated, s.Replaced, s.Deleted, s.Moved, s.Cleaned, s.Total = r.Created, r.Updated, r.Replaced, r.Deleted, r.Moved, r.Cleaned, r.Total
		for _, f := range r.Failures {
			s.Failed = append(s.Failed, NDJSONFailure{Address: f.Address, Action: f.Action, Error: progressError(f.Address, f.Err)})
		}
		for _, f := range r.Skipped {
			s.NotStarted = append(s.NotStarted, NDJSONFailure{Address: f.Address, Action: f.Action, Error: f.Err.Error()})
		}
		for _, f := range r.Abandoned {
			s.NotFinished = append(s.NotFinished, NDJSONFailure{Address: f.Address, Action: f.Action, Error: progressError(f.Address, f.Err)})
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(NDJSONEvent{Type: "summary", Time: ndjsonTime(p.now()), Summary: s})
}

func (p *ndjsonProgress) event(typ string, ev apply.Event) NDJSONEvent {
	return NDJSONEvent{
		Type: typ, Time: ndjsonTime(p.now()),
		Address: ev.Address, Action: ev.Action, Kind: ev.Kind,
		ID: ev.ID, PrevID: ev.PrevID, PreviousAddress: ev.PreviousAddress, Adopted: ev.Adopted,
	}
}

// write encodes e as one line; the caller holds p.mu. Write errors are dropped: a
// closed pipe must not stop the apply (the state records what happened).
func (p *ndjsonProgress) write(e NDJSONEvent) {
	_ = writeNDJSON(p.w, e)
}

// WritePlanEvent writes the "plan" event that opens `apply --format json` output: the
// plan about to be applied, as one line. A *plan.Plan is written as its JSON plan
// document (PlanDocument, the same as `plan --format json`), so scripts parse one
// shape; any other doc is written as it marshals, and must not hold credentials.
func WritePlanEvent(w io.Writer, doc any) error {
	return WritePlanEventAt(w, doc, time.Now())
}

// WritePlanEventAt is WritePlanEvent with the event's time given, for callers (and
// tests) with their own clock.
func WritePlanEventAt(w io.Writer, doc any, at time.Time) error {
	if p, ok := doc.(*plan.Plan); ok && p != nil {
		doc = PlanDocument(p)
	}
	return writeNDJSON(w, NDJSONEvent{Type: "plan", Time: ndjsonTime(at), Plan: doc})
}

// writeNDJSON writes v as one JSON line in a single Write, so that concurrent writers
// to the same stream never interleave within a line.
func writeNDJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(quote.JSON(buf.Bytes()))
	return err
}

// ndjsonTime formats t in UTC with a fixed three-digit fraction, so that times sort as
// text and every line of a run has the same width there.
func ndjsonTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// progressHint is the first remedy in err's tree: an NDJSON error event has one hint field.
func progressHint(err error) string {
	if hints := hint.Of(err); len(hints) > 0 {
		return hints[0]
	}
	return ""
}

func ndjsonInt(v int64) *int64 { return &v }
