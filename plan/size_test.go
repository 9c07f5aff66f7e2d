package plan

import "testing"

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "1048576", want: 1 << 20},
		{in: "5GiB", want: 5 << 30},
		{in: "5 gib", want: 5 << 30},
		{in: "500MB", want: 500e6},
		{in: "10k", want: 10 << 10},
		{in: " 2 TiB ", want: 2 << 40},
		{in: "1B", want: 1},
		{in: "0", wantErr: `size "0" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "-5", wantErr: `size "-5" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "1.5GiB", wantErr: `size "1.5GiB" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "5 PiB", wantErr: `size "5 PiB" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "", wantErr: `size "" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "GiB", wantErr: `size "GiB" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "99999999999999999999", wantErr: `size "99999999999999999999" is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB`},
		{in: "9000000TiB", wantErr: `size "9000000TiB" is too large`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSize(%q) = %d, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
