package contracts_test

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// asciiUnits are the units ParseSize documents, with their multipliers.
var asciiUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
	"T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
}

// FuzzParseSize checks ParseSize on any text: an error wraps ErrInvalidSize
// and quotes the value; a size is positive, at most MaxSize, and exactly the
// number times its unit (computed without overflow); and every documented
// form whose value is at most MaxSize is accepted with that value.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{
		"1024", "64KB", "10MB", "1GB", "1kb", "64 KB", " 2MiB ", "3k", "5B", "1TB", "0", "-1", "", " ",
		"1.5MB", "MB", "12XB", "10 M B", "9223372036854775807", "9223372036854775808", "8388607TB",
		"8388608TB", "9999999999999GB", "007k", "1\u00a0KB", "1ıb", "+5", "0x10", "1e3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := contracts.ParseSize(s)
		if err != nil {
			if !errors.Is(err, contracts.ErrInvalidSize) || !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("ParseSize(%q): error %v does not wrap ErrInvalidSize and quote the value", s, err)
			}
		} else if n <= 0 || n > contracts.MaxSize {
			t.Fatalf("ParseSize(%q) = %d, want a positive size up to MaxSize", s, n)
		}
		t0 := strings.TrimSpace(s)
		i := 0
		for i < len(t0) && t0[i] >= '0' && t0[i] <= '9' {
			i++
		}
		digits, unit := t0[:i], strings.TrimSpace(t0[i:])
		mult, documented := asciiUnits[strings.ToUpper(unit)]
		if err == nil {
			// Whatever the unit was spelt as, the size is digits times a unit.
			num, ok := new(big.Int).SetString(digits, 10)
			if !ok {
				t.Fatalf("ParseSize(%q) = %d without a number", s, n)
			}
			q, r := new(big.Int).QuoRem(big.NewInt(n), num, new(big.Int))
			if r.Sign() != 0 || !q.IsInt64() || !isUnit(q.Int64()) {
				t.Fatalf("ParseSize(%q) = %d: not %s times a unit", s, n, digits)
			}
			// The size reads back as a plain number of bytes.
			if back, err := contracts.ParseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
				t.Fatalf("ParseSize(%d) = %d, %v after ParseSize(%q)", n, back, err, s)
			}
			return
		}
		if digits == "" || !documented || !isASCII(unit) {
			return
		}
		want := new(big.Int).Mul(bigOf(digits), big.NewInt(mult))
		if want.Sign() > 0 && want.Cmp(big.NewInt(contracts.MaxSize)) <= 0 {
			t.Fatalf("ParseSize(%q): %v; want %v", s, err, want)
		}
	})
}

func isUnit(m int64) bool {
	for _, u := range asciiUnits {
		if u == m {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func bigOf(digits string) *big.Int {
	n, _ := new(big.Int).SetString(digits, 10)
	return n
}
