package contracts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultPieceSize is the mini_batch_size of a tabular input that does not
// set one: 1 MiB.
const DefaultPieceSize = 1 << 20

// ErrInvalidSize: a mini_batch_size of a tabular input that is not a
// positive size such as 1024, 64KB, 10MB or 1GB.
var ErrInvalidSize = errors.New("invalid size")

// sizeUnits are the suffixes ParseSize accepts, matched case-insensitively;
// KB is 1024 bytes as in ParallelRunStep.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest first, so that "KIB" is not read as "B" after "KI".
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize parses a tabular mini_batch_size: a positive whole number of
// bytes with an optional unit, "1024", "64KB", "10MB", "1GB" (KB = 1024
// bytes; also B, TB, KiB..TiB and K..T, any case, with optional spaces
// before the unit), at most [MaxSize] (1TB). An empty value, zero, a
// negative or fractional number, an unknown unit ("12XB") or a size over
// 1TB give an error that wraps
// [ErrInvalidSize] and quotes the value. A missing setting is the caller's
// business: use [DefaultPieceSize] ([Config.BytesPerBatch] does).
func ParseSize(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w %q: %s (want a positive whole number of bytes with an optional unit: 1024, 64KB, 10MB, 1GB)", ErrInvalidSize, s, why)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return bad("empty")
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		if strings.HasPrefix(t, "-") {
			return bad("negative")
		}
		return bad("no number")
	}
	mult := int64(1)
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if unit == u.suffix {
				mult, found = u.mult, true
				break
			}
		}
		if !found {
			if strings.HasPrefix(unit, ".") {
				return bad("not a whole number")
			}
			return bad(fmt.Sprintf("unknown unit %q", t[i:]))
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > MaxSize/mult {
		return bad("too large, at most 1TB")
	}
	if n == 0 {
		return bad("zero")
	}
	return n * mult, nil
}
