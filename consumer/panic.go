package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// PanicError is a panic of the code that serves an attempt (a handler, the
// reader of a malformed input file) caught in its slot: the attempt fails
// as if the user's code had raised, spending a try, and the worker keeps
// serving. It unwraps to a *ScriptError of type "Panic" whose message is
// what the user's error log shows; the stack goes to the worker's own log.
type PanicError struct {
	// Where names what panicked ("the handler's Run").
	Where string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *PanicError) Error() string { return e.script().Error() }

// Unwrap gives the *ScriptError the attempt's records and outcome hold.
func (e *PanicError) Unwrap() error { return e.script() }

func (e *PanicError) script() *ScriptError {
	return &ScriptError{Type: "Panic", Message: fmt.Sprintf("%s panicked: %v (a bug of prs or of the handler; the stack is in the worker's log)", e.Where, e.Value)}
}

// catchPanic, deferred, turns a panic into a *PanicError in *errp.
func catchPanic(where string, errp *error) {
	if v := recover(); v != nil {
		*errp = &PanicError{Where: where, Value: v, Stack: debug.Stack()}
	}
}

// logPanic logs a *PanicError with its stack; it reports whether err is one.
func logPanic(log *slog.Logger, err error, args ...any) bool {
	var pe *PanicError
	if !errors.As(err, &pe) {
		return false
	}
	log.Error("recovered from a panic: the attempt fails, the worker keeps serving",
		append(args, "where", pe.Where, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))...)
	return true
}
