// Package entryscript runs a ParallelRunStep entry script as a
// consumer.Handler.
//
// Each handler owns one long-lived subprocess, "<interpreter> -u prs_shim.py
// ENTRY_SCRIPT ARGUMENTS...", that imports the user's script, calls its init()
// once, its run(mini_batch) once per mini-batch and its shutdown() on Close.
// The script sees what it would see under Azure ML: sys.argv holds the job's
// arguments (with "{side_inputs.NAME}" replaced by the side input's local
// path), `from azureml_user.parallel_run import EntryScript` works, and its
// stdout and stderr are the job's logs.
//
// The worker and the script talk over two pipes of their own, fd 3 and fd 4,
// one JSON object a line; PROTOCOL.md describes it precisely enough for a
// program in another language to serve it.
//
// Failures come back as the types the runtime understands: an exception in
// run() is a *consumer.ScriptError; a script that cannot be imported, lacks
// run() or whose init() raises gives a *consumer.InitError; a run() that
// passes its context's deadline has its whole process group killed and gives
// an error wrapping consumer.ErrRunTimeout and a ScriptError of type
// "Timeout"; a process that dies gives a ScriptError of type "Crash". After a
// timeout or a crash the next Run starts a new process and calls init() again
// before run(), as ParallelRunStep does.
//
// CheckScript validates a script at submit time without running its code.
package entryscript
