"""Entry script of the integration tests: one script, behaviours chosen by
arguments, marker files under --state to remember what happened."""
import argparse
import os
import subprocess
import time

from azureml_user.parallel_run import EntryScript

args = None


def log_line(name, text):
    with open(os.path.join(args.state, name), "a") as f:
        f.write(text + "\n")


def init():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="echo")
    p.add_argument("--state", default="")
    p.add_argument("--sleep", type=float, default=0)
    p.add_argument("--skip-suffix", default="")
    # Files that make run() raise, or hang, whenever its mini-batch holds them.
    p.add_argument("--raise-on", default="")
    p.add_argument("--hang-on", default="")
    # The first run() of fewer files than this (a part of an isolation)
    # writes its pid to blocked.log and waits until its worker is gone.
    p.add_argument("--block-part", type=int, default=0)
    args, _ = p.parse_known_args()
    if args.state:
        log_line("init.log", str(os.getpid()))
    EntryScript().logger.info("init mode=%s", args.mode)


def once(key):
    """True the first time it is called for key (a marker file remembers)."""
    marker = os.path.join(args.state, "once-" + key)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def block():
    """Waits until the worker that started this process is gone."""
    parent = os.getppid()
    log_line("blocked.log", str(os.getpid()))
    deadline = time.time() + 120
    while os.getppid() == parent and time.time() < deadline:
        time.sleep(0.05)
    raise SystemExit("the worker is gone")


def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    key = names[0]
    if args.state:
        log_line("calls.log", key)
    if args.sleep:
        time.sleep(args.sleep)
    if args.mode == "fail-once" and once(key):
        raise RuntimeError("fails once: " + key)
    if args.mode == "always-fail":
        raise ValueError("always fails: " + key)
    if args.block_part and len(names) < args.block_part and once("block-part"):
        block()
    if any(n in args.hang_on.split(",") for n in names):
        time.sleep(3600)
    for n in names:
        if n in args.raise_on.split(","):
            raise ValueError("cannot read " + n)
    if args.mode == "hang-once" and key.endswith("00.txt") and once(key):
        child = subprocess.Popen(["sleep", "3600"])
        log_line("hung.log", "%d %d" % (os.getpid(), child.pid))
        time.sleep(3600)
    return [n for n in names if not (args.skip_suffix and n.endswith(args.skip_suffix))]
