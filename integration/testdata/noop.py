"""prs watch benchmark: a no-op entry script, one row per file (its name)."""
import os


def init():
    pass


def run(mini_batch):
    return [os.path.basename(p) for p in mini_batch]
