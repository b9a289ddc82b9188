"""Entry script shipped with its source folder: it imports a neighbour
module, opens a neighbour file through __file__, and reads a side input."""
import argparse
import os

import helper

prefix = None
label = None


def init():
    global prefix, label
    p = argparse.ArgumentParser()
    p.add_argument("--labels", required=True)
    args, _ = p.parse_known_args()
    with open(os.path.join(os.path.dirname(__file__), "prefix.txt")) as f:
        prefix = f.read().strip()
    with open(args.labels) as f:
        label = f.readline().strip()


def run(mini_batch):
    return [helper.row(prefix, label, path) for path in mini_batch]
