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
// passes its context's deadline has the script and every process it started
// killed and gives an error wrapping consumer.ErrRunTimeout and a
// ScriptError of type "Timeout"; a process that dies gives a ScriptError of
// type "Crash". After a timeout or a crash the next Run starts a new process
// and calls init() again before run(), as ParallelRunStep does.
//
// # No process outlives its script
//
// A script may start processes that leave its process group: a child in a
// session of its own (subprocess.Popen(start_new_session=True)) or a
// double-forked daemon, whose parent exits so that it is re-parented. None of
// them may outlive the script's slot, its job or its worker. Each script
// process therefore runs under a small reaper: the worker's own executable
// started again ("/proc/self/exe", recognised by an init function of this
// package, reaper.go), which
//
//   - makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so that every
//     orphan of the script's tree is re-parented to it, not to init: the
//     tree stays under one process, whatever its members do to their
//     sessions and groups;
//   - starts the script with the protocol's pipes and its output, and then
//     holds none of them, so that their ends still tell the worker when the
//     script is gone;
//   - reaps every child it has, the script and adopted orphans alike, so
//     that no zombie is left (the reaper has no other children, so its
//     wait4(-1) takes no one else's status, which a wait4(-1) in the worker
//     would: os/exec's Wait needs the statuses of the worker's own children);
//   - when the script exits, or the worker closes its lifeline (its stdin)
//     or dies, which closes it too, kills every process under it, found by
//     walking /proc by parent, again until it has no child left, reports the
//     script's wait status on a status pipe, and exits.
//
// The worker is not a subreaper itself: orphans re-parented to it could not
// be told apart by slot once their script is gone, and reaping them would
// race os/exec. A timeout, a crash, Close and the worker's stop all end the
// tree through the reaper; a worker killed with SIGKILL ends it too, as its
// lifeline closes with it. Were the reaper itself killed, the worker kills
// its process group, which holds the script unless the script moved.
//
// CheckScript validates a script at submit time without running its code.
package entryscript
