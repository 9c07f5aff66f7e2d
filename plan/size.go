package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatSize writes n bytes for people: binary units with one decimal ("1.2 MiB"),
// plain bytes below 1 KiB ("512 B"). Plans and their renderers share it so reasons
// and summaries agree.
func FormatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	u := 0
	// Move up a unit when rounding to one decimal would print 1024.0.
	for v >= 1023.95 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// ParseSize reads a size as people write it on a command line: a whole number of
// bytes with an optional unit, binary (KiB, MiB, GiB, TiB) or decimal (KB, MB, GB,
// TB), case-insensitive, with or without a space: "5GiB", "500 MB", "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := map[string]int64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 1 {
		return 0, fmt.Errorf("size %q is not a positive whole number of bytes with an optional unit such as KiB, MiB, GiB or MB, GB", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
