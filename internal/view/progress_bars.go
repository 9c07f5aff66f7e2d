package view

import (
	"io"
	"strconv"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/internal/quote"
	"github.com/desksync/desksync/plan"
)

// barNameWidth is where long addresses are cut in per-upload bars, so that the bars of
// one run line up on an 80-column terminal.
const barNameWidth = 32

// maxUploadBars bounds the per-upload bars on screen: at --parallelism 64 a bar for
// every upload would push the overall bars off a terminal. Uploads beyond it still
// count in the overall bytes.
const maxUploadBars = 8

// NewBars returns an apply.Progress for a terminal: an overall bar of changes done out
// of changes (the plan's changes and cleanups; a replace counts once, when its new
// version is live, though it is two actions), an overall bytes bar when anything is
// uploaded, and one bar per upload while bytes move. Finished bars leave the screen,
// and an upload gets its bar only once its first bytes are sent, so that waiting
// actions do not sit at 0%. The per-action lines of NewLines are printed above the
// bars. It is safe for concurrent use. End removes the bars, so that whatever the
// caller prints next (ApplySummary) follows the lines.
func NewBars(w io.Writer, changes int) apply.Progress {
	return newBars(w, changes)
}

// newBars is NewBars with more container options: tests draw to a buffer as if it
// were a terminal of a given width.
func newBars(w io.Writer, changes int, opts ...mpb.ContainerOption) *barProgress {
	return &barProgress{w: w, changes: changes, opts: opts, uploads: map[string]*barUpload{}}
}

type barProgress struct {
	w       io.Writer
	changes int
	opts    []mpb.ContainerOption

	mu      sync.Mutex
	p       *mpb.Progress // nil until Begin and after End
	done    *mpb.Bar
	bytes   *mpb.Bar // nil when the run uploads nothing
	sent    int64    // sum over uploads of bytes sent, for the overall bytes bar
	shown   int      // per-upload bars on screen
	uploads map[string]*barUpload
}

type barUpload struct {
	size int64
	sent int64
	bar  *mpb.Bar // nil until the first bytes move, or when maxUploadBars are shown
}

func (b *barProgress) Begin(t apply.Totals) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p != nil {
		return
	}
	changes := b.changes
	if changes <= 0 {
		changes = t.Actions
	}
	// Auto refresh even when w is not a terminal: mpb holds the lines written
	// above the bars until a render, and without refreshes it would never render.
	b.p = mpb.New(append([]mpb.ContainerOption{mpb.WithOutput(b.w), mpb.WithWidth(40), mpb.WithAutoRefresh()}, b.opts...)...)
	b.done = b.addBar(int64(changes), "changes", countersDecorator())
	if t.Bytes > 0 {
		b.bytes = b.addBar(t.Bytes, "bytes", sizeDecorator())
	}
}

// addBar adds a bar, or returns nil once the container is shut down (mpb refuses new
// bars then; that must not panic an apply).
func (b *barProgress) addBar(total int64, name string, counters decor.Decorator) *mpb.Bar {
	bar, err := b.p.Add(0, mpb.BarStyle().Build(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: barNameWidth, C: decor.DindentRight})),
		mpb.AppendDecorators(counters, decor.Name(" "), decor.Percentage(decor.WC{W: 5})),
	)
	if err != nil {
		return nil
	}
	// Bars are added with total 0 and given their total afterwards: then only an
	// explicit completion ends them, and an upload that restarts (retry, fresh ref)
	// cannot complete a bar early.
	bar.SetTotal(total, false)
	return bar
}

// countersDecorator reads "26 / 150".
func countersDecorator() decor.Decorator {
	return decor.Any(func(s decor.Statistics) string {
		return strconv.FormatInt(s.Current, 10) + " / " + strconv.FormatInt(s.Total, 10)
	}, decor.WC{W: 13, C: decor.DindentRight})
}

// sizeDecorator reads "1.2 MiB / 3.0 MiB", in the units the plan uses ("0 B", not "0.0 b").
func sizeDecorator() decor.Decorator {
	return decor.Any(func(s decor.Statistics) string {
		return plan.FormatSize(s.Current) + " / " + plan.FormatSize(s.Total)
	}, decor.WC{W: 21, C: decor.DindentRight})
}

func (b *barProgress) Start(ev apply.Event) {
	if ev.Size <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return
	}
	b.uploads[ev.Address] = &barUpload{size: ev.Size}
}

func (b *barProgress) Advance(address string, sent int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.uploads[address]
	if u == nil || b.p == nil {
		return
	}
	// sent restarts from zero on a retry, so the overall sum moves by the difference.
	b.sent += sent - u.sent
	u.sent = sent
	if u.bar == nil && sent > 0 && b.shown < maxUploadBars {
		if u.bar = b.addBar(u.size, barName(address), sizeDecorator()); u.bar != nil {
			b.shown++
		}
	}
	if u.bar != nil {
		u.bar.SetCurrent(sent)
	}
	if b.bytes != nil {
		b.bytes.SetCurrent(max(b.sent, 0))
	}
}

func (b *barProgress) Finish(ev apply.Event, err error) {
	line := progressLine(ev, err) + "\n"
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		_, _ = io.WriteString(b.w, line)
		return
	}
	if u := b.uploads[ev.Address]; u != nil {
		delete(b.uploads, ev.Address)
		if err == nil {
			// Count the whole file even if the client reported less.
			b.sent += ev.Size - u.sent
		} else {
			b.sent -= u.sent
		}
		b.drop(u)
		if b.bytes != nil {
			b.bytes.SetCurrent(max(b.sent, 0))
		}
	}
	// The old half of a replace belongs to the change its upload already counted.
	if b.done != nil && !(ev.Action == plan.Delete.String() && ev.Kind == apply.KindDeposed) {
		b.done.Increment()
	}
	// Written through mpb so that the line lands above the bars, not across them.
	_, _ = b.p.Write([]byte(line))
}

// drop takes an upload's bar off the screen.
func (b *barProgress) drop(u *barUpload) {
	if u.bar == nil {
		return
	}
	u.bar.Abort(true)
	u.bar = nil
	b.shown--
}

func (b *barProgress) End(*apply.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return
	}
	for addr, u := range b.uploads {
		b.drop(u)
		delete(b.uploads, addr)
	}
	// The lines above tell what was done, and ApplySummary follows: bars that
	// stayed would only repeat it.
	for _, bar := range []*mpb.Bar{b.done, b.bytes} {
		if bar != nil {
			bar.Abort(true)
		}
	}
	b.p.Wait()
	b.p = nil
}

// AboveBars returns a writer for what is printed from outside p while p runs (a
// signal's notice, a warning): while p draws bars its lines land above them, where a
// direct write to the terminal would be erased by the next redraw; otherwise, and for
// any other Progress, they go to w. Each Write should be whole lines.
func AboveBars(p apply.Progress, w io.Writer) io.Writer {
	b, ok := p.(*barProgress)
	if !ok {
		return w
	}
	return &aboveBars{b: b, w: w}
}

type aboveBars struct {
	b *barProgress
	w io.Writer
}

func (a *aboveBars) Write(p []byte) (int, error) {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	if a.b.p == nil {
		return a.w.Write(p)
	}
	// A Ctrl-C leaves the terminal's "^C" echo, and so the cursor, two columns in;
	// the redraw then clears the screen from there. Start the line at column 0.
	if _, err := a.b.p.Write(append([]byte{'\r'}, p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// barName fits address into barNameWidth, keeping its end (the file name), which
// tells uploads apart better than the leading folders.
func barName(address string) string {
	address = quote.Text(address)
	r := []rune(address)
	if len(r) < barNameWidth {
		return address
	}
	return "…" + string(r[len(r)-(barNameWidth-2):])
}
