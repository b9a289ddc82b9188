package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parallelrun/prs/internal/ledger"
)

// retentionFlag is --job-retention: a Go duration (36h, 90m) or a number
// of days (7d), positive.
type retentionFlag struct {
	d   time.Duration
	err error // a PRS_JOB_RETENTION that does not parse
}

func (r *retentionFlag) String() string {
	if r.d%(24*time.Hour) == 0 && r.d > 0 {
		return fmt.Sprintf("%dd", r.d/(24*time.Hour))
	}
	return r.d.String()
}

func (r *retentionFlag) Set(s string) error {
	d, err := parseRetention(s)
	if err != nil {
		return err
	}
	r.d, r.err = d, nil
	return nil
}

// maxRetention bounds --job-retention (about ten years), so that no value
// overflows a time.
const maxRetention = 3650 * 24 * time.Hour

// parseRetention reads a retention: "7d", "36h", "2s".
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n != n {
			return 0, fmt.Errorf("%q is not a number of days such as 7d", s)
		}
		if n*24*float64(time.Hour) > float64(maxRetention) {
			return 0, fmt.Errorf("%q is too long, at most %s", s, (&retentionFlag{d: maxRetention}).String())
		}
		d = time.Duration(n * 24 * float64(time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(s)); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 90m", s)
		}
	}
	switch {
	case d <= 0:
		return 0, errors.New("must be positive")
	case d > maxRetention:
		return 0, fmt.Errorf("%q is too long, at most %s", s, (&retentionFlag{d: maxRetention}).String())
	}
	return d, nil
}

// addRetention registers --job-retention (env PRS_JOB_RETENTION) on fs.
func addRetention(fs *flag.FlagSet) *retentionFlag {
	r := &retentionFlag{d: ledger.DefaultRetention}
	if v := os.Getenv("PRS_JOB_RETENTION"); v != "" {
		d, err := parseRetention(v)
		if err != nil {
			r.err = fmt.Errorf("PRS_JOB_RETENTION: %w", err)
		}
		if err == nil {
			r.d = d
		}
	}
	fs.Var(r, "job-retention", "how long a finished job's per-batch records (outcomes, counters) and staged objects are kept before this worker's sweep removes them; its record and state stay (`7d`, 36h, ...; env PRS_JOB_RETENTION)")
	return r
}
