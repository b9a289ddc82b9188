"""Quick-start entry script: the ParallelRunStep contract.

init() runs once per worker slot, run(mini_batch) once per mini-batch with the
local paths of its files; each returned element is one row of the output.
"""
import argparse
import os

from azureml_user.parallel_run import EntryScript

args = None
logger = None


def init():
    global args, logger
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-words", type=int, default=0)
    args, _ = parser.parse_known_args()
    logger = EntryScript().logger
    logger.info("init: counting words, min %d", args.min_words)


def run(mini_batch):
    rows = []
    for path in mini_batch:
        with open(path, encoding="utf-8") as f:
            n = len(f.read().split())
        if n >= args.min_words:
            rows.append(f"{os.path.basename(path)}: {n} words")
    return rows
