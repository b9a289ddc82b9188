package consumer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/parallelrun/prs/internal/ledger"
)

// Config configures a Worker. Every field documents its default.
type Config struct {
	// Ledger reads jobs and records outcomes (required).
	Ledger *ledger.Ledger
	// Handlers builds a job's handler by the job's handler name (required;
	// contracts.HandlerEntryScript for entry scripts).
	Handlers map[string]HandlerFactory
	// Slots is the number of mini-batches run at once (default 1).
	Slots int
	// Name names the worker in outcomes and result keys (default the
	// Ledger's Worker name).
	Name string
	// WorkDir holds the worker's local copies and scratch folders (default a
	// new folder under the system's temporary folder, removed on Stop).
	WorkDir string
	// Logger receives the runtime's logs (default slog.Default()).
	Logger *slog.Logger
	// Stdout and Stderr receive the user code's output (default os.Stdout and
	// os.Stderr).
	Stdout, Stderr io.Writer
	// RetryBase and RetryMax shape the exponential delay before a failed
	// attempt comes back (defaults 1s and 1m).
	RetryBase, RetryMax time.Duration
	// BrokerRetry bounds how long one broker operation around a batch is
	// retried through outages (default 2m).
	BrokerRetry time.Duration
	// PollWait is how long one pull waits for a message; it bounds how soon
	// a drain stops pulling (default 1s).
	PollWait time.Duration
	// Metrics receives what the worker does (default none).
	Metrics Metrics
	// Host names this machine in the log layout (default os.Hostname()).
	Host string
	// LogFlush is how often the worker puts its changed log files under
	// the job's output/logs; it bounds what a dying worker loses (default 5s).
	LogFlush time.Duration
	// OverviewEvery is how often the worker rewrites a running job's
	// logs/job_progress_overview.txt (default 10s).
	OverviewEvery time.Duration
	// IdleExit, when set, makes the worker stop pulling once no slot has
	// held a mini-batch for that long, and close Idle (default 0: never).
	IdleExit time.Duration
	// NoLogs turns the worker's part of the log layout off (to measure its
	// cost; default false).
	NoLogs bool
}

// validate fills in the defaults, then checks the result: what New does
// with its Config.
func (c *Config) validate() error {
	if err := c.setDefaults(); err != nil {
		return err
	}
	return c.check()
}

// setDefaults gives every unset field its documented default.
func (c *Config) setDefaults() error {
	if c.Slots == 0 {
		c.Slots = 1
	}
	if c.Name == "" && c.Ledger != nil {
		c.Name = c.Ledger.Worker
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.BrokerRetry <= 0 {
		c.BrokerRetry = 2 * time.Minute
	}
	if c.PollWait <= 0 {
		c.PollWait = time.Second
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.LogFlush <= 0 {
		c.LogFlush = 5 * time.Second
	}
	if c.OverviewEvery <= 0 {
		c.OverviewEvery = 10 * time.Second
	}
	if c.WorkDir != "" {
		abs, err := filepath.Abs(c.WorkDir)
		if err != nil {
			return fmt.Errorf("consumer: Config.WorkDir: %w", err)
		}
		c.WorkDir = abs
	}
	return nil
}

// check reports the first field that is wrong once the defaults are in.
func (c *Config) check() error {
	switch {
	case c.Ledger == nil:
		return errors.New("consumer: Config.Ledger is required")
	case len(c.Handlers) == 0:
		return errors.New("consumer: Config.Handlers is required")
	case c.Slots < 1:
		return fmt.Errorf("consumer: Config.Slots must be at least 1, got %d", c.Slots)
	case c.Name == "":
		return errors.New("consumer: Config.Name is required")
	case c.IdleExit < 0:
		return fmt.Errorf("consumer: Config.IdleExit must not be negative, got %s", c.IdleExit)
	}
	return nil
}
