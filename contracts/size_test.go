package contracts_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{
		"1024": 1024, "64KB": 64 << 10, "10MB": 10 << 20, "1GB": 1 << 30,
		"1kb": 1 << 10, "64 KB": 64 << 10, " 2MiB ": 2 << 20, "3k": 3 << 10, "5B": 5, "1TB": 1 << 40,
	} {
		got, err := contracts.ParseSize(s)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	if contracts.DefaultPieceSize != 1<<20 {
		t.Errorf("DefaultPieceSize = %d", contracts.DefaultPieceSize)
	}
}

func TestInvalidSizes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"12XB", "0", "-1", "", "  ", "1.5MB", "MB", "9999999999999GB", "10 M B"} {
		_, err := contracts.ParseSize(s)
		if !errors.Is(err, contracts.ErrInvalidSize) || !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Errorf("ParseSize(%q) = %v, want ErrInvalidSize quoting the value", s, err)
		}
	}
	_, err := contracts.ParseSize("12XB")
	t.Log(err)
}
