package plan

import (
	"fmt"
	"strconv"
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
