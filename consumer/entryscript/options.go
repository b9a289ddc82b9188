package entryscript

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Options.
const (
	DefaultInterpreter     = "python3"
	DefaultInitTimeout     = 10 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configure the handlers that New builds.
type Options struct {
	// Interpreter runs the entry script: a program name looked up in PATH, or
	// a path. A program whose name contains "python" runs the script through
	// prs's shim; any other program is started as "<Interpreter>
	// ENTRY_SCRIPT ARGUMENTS..." and must serve PROTOCOL.md itself.
	// Default: the job's interpreter setting, else DefaultInterpreter.
	Interpreter string
	// InitTimeout bounds starting the process and init() (default
	// DefaultInitTimeout). Init's context may end it sooner.
	InitTimeout time.Duration
	// ShutdownTimeout bounds shutdown() and the process's exit on Close
	// (default DefaultShutdownTimeout); then the script and every process it
	// started are killed.
	ShutdownTimeout time.Duration
	// Logger receives the handler's own records (default slog.Default()).
	Logger *slog.Logger
}

// withDefaults validates o and fills in its defaults; jobInterpreter is the
// job's interpreter setting.
func (o Options) withDefaults(jobInterpreter string) (Options, error) {
	if o.InitTimeout < 0 {
		return o, fmt.Errorf("entryscript: Options.InitTimeout must not be negative, got %s", o.InitTimeout)
	}
	if o.ShutdownTimeout < 0 {
		return o, fmt.Errorf("entryscript: Options.ShutdownTimeout must not be negative, got %s", o.ShutdownTimeout)
	}
	if o.Interpreter == "" {
		o.Interpreter = jobInterpreter
	}
	if o.Interpreter == "" {
		o.Interpreter = DefaultInterpreter
	}
	if o.InitTimeout == 0 {
		o.InitTimeout = DefaultInitTimeout
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
