package view

import (
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/desksync/desksync/apply"
)

// barNameWidth is where long addresses are cut in per-upload bars, so that the bars of
// one run line up on an 80-column terminal.
const barNameWidth = 32

// NewBars returns an apply.Progress for a terminal: live bars for the overall files and
// bytes and one bar per running upload (removed when it finishes), with the same
// per-action lines as NewLines printed above the bars. It is safe for concurrent use.
// End stops the bars, so that whatever the caller prints next (ApplySummary) comes
// after them.
func NewBars(w io.Writer) apply.Progress {
	return &barProgress{w: w, uploads: map[string]*barUpload{}}
}

type barProgress struct {
	w io.Writer

	mu      sync.Mutex
	p       *mpb.Progress // nil until Begin and after End
	files   *mpb.Bar
	bytes   *mpb.Bar
	sent    int64 // sum over uploads of bytes sent, for the overall bytes bar
	uploads map[string]*barUpload
}

type barUpload struct {
	bar  *mpb.Bar
	sent int64
}

func (b *barProgress) Begin(t apply.Totals) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p != nil {
		return
	}
	// Auto refresh even when w is not a terminal: mpb holds the lines written
	// above the bars until a render, and without refreshes it would never render.
	b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithWidth(40), mpb.WithAutoRefresh())
	// Bars are added with total 0 and given their total afterwards: then only an
	// explicit completion ends them, and an upload that restarts (retry, fresh ref)
	// cannot complete a bar early.
	b.files = b.addBar(int64(t.Actions), "files", decor.CountersNoUnit("%d / %d"))
	b.bytes = b.addBar(t.Bytes, "bytes", decor.CountersKibiByte("% .1f / % .1f"))
}

// addBar adds a bar, or returns nil once the container is shut down (mpb refuses new
// bars then; that must not panic an apply).
func (b *barProgress) addBar(total int64, name string, counters decor.Decorator, opts ...mpb.BarOption) *mpb.Bar {
	opts = append(opts,
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: barNameWidth, C: decor.DindentRight})),
		mpb.AppendDecorators(counters, decor.Name(" "), decor.Percentage(decor.WC{W: 5})),
	)
	bar, err := b.p.Add(0, mpb.BarStyle().Build(), opts...)
	if err != nil {
		return nil
	}
	bar.SetTotal(total, false)
	return bar
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
	bar := b.addBar(ev.Size, barName(ev.Address), decor.CountersKibiByte("% .1f / % .1f"), mpb.BarRemoveOnComplete())
	b.uploads[ev.Address] = &barUpload{bar: bar}
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
		if u.bar != nil {
			if err == nil {
				u.bar.SetTotal(-1, true)
			} else {
				u.bar.Abort(true)
			}
		}
		if b.bytes != nil {
			b.bytes.SetCurrent(max(b.sent, 0))
		}
	}
	if b.files != nil {
		b.files.Increment()
	}
	// Written through mpb so that the line lands above the bars, not across them.
	_, _ = b.p.Write([]byte(line))
}

func (b *barProgress) End(*apply.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return
	}
	for addr, u := range b.uploads {
		if u.bar != nil {
			u.bar.Abort(true)
		}
		delete(b.uploads, addr)
	}
	// Totals were the planned maximum; adopted uploads and stopped runs do less.
	for _, bar := range []*mpb.Bar{b.files, b.bytes} {
		if bar != nil {
			bar.SetTotal(-1, true)
		}
	}
	b.p.Wait()
	b.p = nil
}

// barName fits address into barNameWidth, keeping its end (the file name), which
// tells uploads apart better than the leading folders.
func barName(address string) string {
	r := []rune(address)
	if len(r) < barNameWidth {
		return address
	}
	return "…" + string(r[len(r)-(barNameWidth-2):])
}
