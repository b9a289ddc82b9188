"""Entry script of the chaos test: one row per file (its name), none for
the files whose name ends with --fail-suffix (each a failed item), a short
sleep per mini-batch, and one line per run() start and end in
<state>/runs.log: "start|end WORKER_PID FIRST_FILE"."""
import argparse
import os
import time

args = None


def log(what, first):
    # One short write per line on an O_APPEND file: lines of concurrent
    # writers never mix.
    line = "%s %d %s\n" % (what, os.getppid(), first)
    fd = os.open(os.path.join(args.state, "runs.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def init():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--state", required=True)
    p.add_argument("--sleep", type=float, default=0)
    p.add_argument("--fail-suffix", default="")
    args, _ = p.parse_known_args()


def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    log("start", names[0])
    if args.sleep:
        time.sleep(args.sleep)
    log("end", names[0])
    return [n for n in names if not (args.fail_suffix and n.endswith(args.fail_suffix))]
