package hint

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestOf(t *testing.T) {
	a := New("lock held", "run force-unlock")
	b := Wrap(errors.New("401"), "check DESK_API_KEY")
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"plain", errors.New("x"), nil},
		{"direct", a, []string{"run force-unlock"}},
		{"wrapped", fmt.Errorf("apply: %w", a), []string{"run force-unlock"}},
		{"joined, deduplicated", errors.Join(a, b, fmt.Errorf("again: %w", a)), []string{"run force-unlock", "check DESK_API_KEY"}},
		{"outer hides inner", Wrap(fmt.Errorf("x: %w", a), "outer"), []string{"outer"}},
		{"wrap nil", Wrap(nil, "h"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); !slices.Equal(got, tt.want) {
				t.Errorf("Of = %q, want %q", got, tt.want)
			}
		})
	}
	if New("m", "h").Error() != "m" || !errors.Is(b, errors.Unwrap(b)) {
		t.Error("message or chain not kept")
	}
}
