package partition_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/partition"
)

// A partition_format too long for a regular expression is refused with
// ErrBadFormat; it made ParseFormat panic ("expression too large").
func TestParseFormatTooLong(t *testing.T) {
	t.Parallel()
	for _, n := range []int{partition.MaxFormatBytes + 1, 40 << 20} {
		_, err := partition.ParseFormat("{a}/" + strings.Repeat("b", n))
		if !errors.Is(err, partition.ErrBadFormat) || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("a format of %d bytes: %.200v", n, err)
		}
	}
	if _, err := partition.ParseFormat("{a}/" + strings.Repeat("b", partition.MaxFormatBytes-4)); err != nil {
		t.Errorf("a format of %d bytes: %v", partition.MaxFormatBytes, err)
	}
}
