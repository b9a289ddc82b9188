"""Entry script of the tabular tests. Every run() call tags its rows with a
fresh call id, so that the tests can tell which rows shared a mini-batch.

--mode rows:  the DataFrame's id and name columns, plus the call id.
--mode files: one row per file: call id, partition_key_value as JSON, path.
--mode fail:  raises on the mini-batch that holds id 7, else like rows.
"""
import argparse
import json
import uuid

args = None


def init():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="rows")
    args = p.parse_args()


def run(mini_batch, mini_batch_context):
    call = uuid.uuid4().hex[:12]
    pkv = mini_batch_context.partition_key_value
    if args.mode == "files":
        return ["%s %s %s" % (call, json.dumps(pkv, sort_keys=True), path) for path in mini_batch]
    if args.mode == "fail" and (mini_batch["id"] == 7).any():
        raise ValueError("id 7 is in this mini-batch")
    out = mini_batch.copy()
    out["call"] = call
    out["pkv"] = json.dumps(pkv, sort_keys=True)
    return out
