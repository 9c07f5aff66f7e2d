package plan

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseDeleteLimit(t *testing.T) {
	t.Parallel()
	const bad = `want a count such as 5 or a percentage from 0% to 100% such as 30%`
	tests := []struct {
		in      string
		want    DeleteLimit
		wantErr string
	}{
		{in: "5", want: DeleteLimit{Count: 5, Explicit: true}},
		{in: "0", want: DeleteLimit{Count: 0, Explicit: true}},
		{in: " 7 ", want: DeleteLimit{Count: 7, Explicit: true}},
		{in: "30%", want: DeleteLimit{Percent: 30, Explicit: true}},
		{in: "12.5%", want: DeleteLimit{Percent: 12.5, Explicit: true}},
		{in: "100%", want: DeleteLimit{Percent: 100, Explicit: true}},
		{in: "0%", want: DeleteLimit{Explicit: true}},
		{in: "", wantErr: `invalid --max-delete "": ` + bad},
		{in: "-1", wantErr: `invalid --max-delete "-1": ` + bad},
		{in: "101%", wantErr: `invalid --max-delete "101%": ` + bad},
		{in: "-5%", wantErr: `invalid --max-delete "-5%": ` + bad},
		{in: "NaN%", wantErr: `invalid --max-delete "NaN%": ` + bad},
		{in: "five", wantErr: `invalid --max-delete "five": ` + bad},
		{in: "5.5", wantErr: `invalid --max-delete "5.5": ` + bad},
		{in: "%", wantErr: `invalid --max-delete "%": ` + bad},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDeleteLimit(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v\nwant %s", err, tt.wantErr)
				}
				var h interface{ Hint() string }
				if !errors.As(err, &h) || h.Hint() == "" {
					t.Error("error has no hint")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDeleteLimit(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// planWith builds a plan tracking `tracked` attachments, of which `deletes` are
// deleted, with `listed` files left in the manifest.
func planWith(tracked, deletes, listed, replaces int) *Plan {
	p := &Plan{StateExists: true, Tracked: tracked, Files: map[string]FileDigest{}}
	for i := range listed {
		p.Files[fmt.Sprintf("keep%03d", i)] = FileDigest{}
	}
	for i := range deletes {
		p.Changes = append(p.Changes, Change{Address: fmt.Sprintf("del%03d", i), Action: Delete, Before: &Attrs{ID: int64(i + 1)}})
	}
	for i := range replaces {
		p.Changes = append(p.Changes, Change{Address: fmt.Sprintf("rep%03d", i), Action: Replace, Before: &Attrs{ID: int64(100 + i)}, After: &Attrs{}})
	}
	return p
}

func TestCheckDeletes(t *testing.T) {
	t.Parallel()
	parse := func(s string) DeleteLimit {
		l, err := ParseDeleteLimit(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tests := []struct {
		name     string
		plan     *Plan
		limit    DeleteLimit
		wantErr  string
		wantHint string
	}{
		{name: "no deletes", plan: planWith(10, 0, 10, 0), limit: DefaultDeleteLimit()},
		{name: "default: 30% of 10 is allowed", plan: planWith(10, 3, 7, 0), limit: DefaultDeleteLimit()},
		{
			name: "default: 40% of 10 is refused", plan: planWith(10, 4, 6, 0), limit: DefaultDeleteLimit(),
			wantErr:  "refusing to delete 4 of 10 tracked attachments: more than the default limit of 30% (no --max-delete was given)",
			wantHint: "if that is intended, run again with --max-delete 4 (or a percentage, e.g. --max-delete 40%)",
		},
		{
			name: "zero value is the default", plan: planWith(10, 4, 6, 0), limit: DeleteLimit{},
			wantErr:  "refusing to delete 4 of 10 tracked attachments: more than the default limit of 30% (no --max-delete was given)",
			wantHint: "if that is intended, run again with --max-delete 4 (or a percentage, e.g. --max-delete 40%)",
		},
		{name: "default: below 10 tracked any share may go", plan: planWith(9, 8, 1, 0), limit: DefaultDeleteLimit()},
		{name: "replaces do not count", plan: planWith(10, 3, 7, 5), limit: DefaultDeleteLimit()},
		{
			name: "default: empty manifest refuses even one", plan: planWith(1, 1, 0, 0), limit: DefaultDeleteLimit(),
			wantErr:  "the manifest lists no attachments; refusing to delete all 1 tracked attachments",
			wantHint: "if that is intended, run again with --max-delete 1 (or a percentage, e.g. --max-delete 100%)",
		},
		{
			name: "default: nothing selected by --target refuses too", limit: DefaultDeleteLimit(),
			plan: func() *Plan {
				p := planWith(1, 1, 0, 0)
				p.Scope = Scope{Target: []string{"old"}}
				return p
			}(),
			wantErr:  "the manifest lists no attachments that --target/--exclude select; refusing to delete all 1 tracked attachments they select",
			wantHint: "if that is intended, run again with --max-delete 1 (or a percentage, e.g. --max-delete 100%)",
		},
		{name: "explicit count lifts the empty-manifest refusal", plan: planWith(4, 4, 0, 0), limit: parse("4")},
		{name: "explicit 100% lifts the empty-manifest refusal", plan: planWith(40, 40, 0, 0), limit: parse("100%")},
		{
			name: "explicit count", plan: planWith(4, 4, 0, 0), limit: parse("3"),
			wantErr:  "refusing to delete 4 of 4 tracked attachments: more than the limit of 3",
			wantHint: "if that is intended, run again with --max-delete 4 (or a percentage, e.g. --max-delete 100%)",
		},
		{
			name: "explicit 0 forbids any delete", plan: planWith(50, 1, 49, 0), limit: parse("0"),
			wantErr:  "refusing to delete 1 of 50 tracked attachments: more than the limit of 0",
			wantHint: "if that is intended, run again with --max-delete 1 (or a percentage, e.g. --max-delete 2%)",
		},
		{
			name: "explicit percentage applies below 10 tracked", plan: planWith(4, 2, 2, 0), limit: parse("25%"),
			wantErr:  "refusing to delete 2 of 4 tracked attachments: more than the limit of 25%",
			wantHint: "if that is intended, run again with --max-delete 2 (or a percentage, e.g. --max-delete 50%)",
		},
		{name: "explicit percentage at the limit", plan: planWith(8, 1, 7, 0), limit: parse("12.5%")},
		{name: "explicit count above the default", plan: planWith(100, 90, 10, 0), limit: parse("90")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.CheckDeletes(tt.limit)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckDeletes: %v", err)
				}
				return
			}
			var md *MassDeleteError
			if !errors.As(err, &md) {
				t.Fatalf("err = %v, want *MassDeleteError", err)
			}
			if md.Error() != tt.wantErr || md.Hint() != tt.wantHint {
				t.Errorf("got  %s\n     hint: %s\nwant %s\n     hint: %s", md.Error(), md.Hint(), tt.wantErr, tt.wantHint)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{14 * 1024, "14.0 KiB"},
		{1258291, "1.2 MiB"},
		{1363149, "1.3 MiB"},
		{1024*1024 - 1, "1.0 MiB"}, // not "1024.0 KiB"
		{5 << 30, "5.0 GiB"},
		{1 << 62, "4.0 EiB"},
	}
	for _, tt := range tests {
		if got := FormatSize(tt.n); got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
