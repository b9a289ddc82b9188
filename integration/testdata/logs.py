"""Entry script of the log-layout test: prints, logs through EntryScript,
fails some items, raises on one batch and hangs on another."""
import os
import sys
import time

from azureml_user.parallel_run import EntryScript

log = None


def init():
    global log
    log = EntryScript().logger
    print("init printed this")


def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    first = names[0]
    print("run got", first)
    print("stderr line for", first, file=sys.stderr)
    log.info("logger line for %s", first)
    if first == "f00010.txt":
        raise KeyError("no such thing: " + first)
    if first == "f00020.txt":
        time.sleep(3600)
    if first == "f00030.txt":
        return names[:3]  # 2 of 5 items fail
    return names
