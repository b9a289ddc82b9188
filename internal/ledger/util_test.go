package ledger

import (
	"io"
	"strings"
)

func stringsReader(s string) io.ReadSeeker { return strings.NewReader(s) }
