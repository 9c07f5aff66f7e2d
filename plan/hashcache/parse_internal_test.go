package hashcache

import (
	"strconv"
	"testing"
)

// TestParseUintAgreesWithStrconv: parseUint reads what strconv reads, without a sign
// or leading zeros, up to the largest uint64 and not one past it, whatever the length.
func TestParseUintAgreesWithStrconv(t *testing.T) {
	in := []string{"", "0", "00", "01", "1", "9", "x", "1x", "-1", "+1",
		"1844674407370955161", "18446744073709551615", "18446744073709551616", "18446744073709551625",
		"19999999999999999999", "99999999999999999999", "100000000000000000000", "1844674407370955161x",
		"999999999999999999", "9999999999999999999", "1234567890123456789x"}
	for _, s := range in {
		got, ok := parseUint([]byte(s))
		want, err := strconv.ParseUint(s, 10, 64)
		wantOK := err == nil && (s == "0" || s[0] != '0') && s[0] != '+'
		if ok != wantOK || ok && got != want {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", s, got, ok, want, wantOK)
		}
	}
}
