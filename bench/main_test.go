package main

import (
	"slices"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want rateLimit
		err  string
	}{
		{in: "20/2s", want: rateLimit{20, 2 * time.Second}},
		{in: "120/1m", want: rateLimit{120, time.Minute}},
		{in: "120/m", want: rateLimit{120, time.Minute}},
		{in: "10/200ms", want: rateLimit{10, 200 * time.Millisecond}},
		{in: "20", err: `"20" is not REQUESTS/WINDOW like 20/2s or 120/1m`},
		{in: "0/2s", err: `"0/2s" is not REQUESTS/WINDOW like 20/2s or 120/1m`},
		{in: "20/0s", err: `"20/0s" is not REQUESTS/WINDOW like 20/2s or 120/1m`},
		{in: "20x/2s", err: `"20x/2s" is not REQUESTS/WINDOW like 20/2s or 120/1m`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRate(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("parseRate(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{4}, 4},
		{[]float64{4, 6}, 5},
		{[]float64{3, 5, 9}, 5},
		{[]float64{1, 2, 3, 10}, 2.5},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseSeries(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		err  string
	}{
		{in: "1000,4000,10000", want: []int{1000, 4000, 10000}},
		{in: " 10 , 20", want: []int{10, 20}},
		{in: "5", want: []int{5}},
		{in: "1000,,4000", err: `"1000,,4000" is not a list of file counts like 1000,4000,10000`},
		{in: "0", err: `"0" is not a list of file counts like 1000,4000,10000`},
		{in: "4k", err: `"4k" is not a list of file counts like 1000,4000,10000`},
	} {
		got, err := parseSeries(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseSeries(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseSeries(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
