"""Checks an entry script without running it: `python prs_check.py PATH`.

Prints one JSON object: {"ok": true}, or {"ok": false, "kind": "syntax" or
"norun", "line": N, "message": "..."}.
"""

import ast
import json
import sys


def _binds_run(statements):
    """Reports whether top-level statements bind the name run, looking into
    if/try/with blocks but not into functions or classes."""
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "run":
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id == "run":
                        return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == "run":
                    return True
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                block = getattr(node, field, None)
                if isinstance(block, list) and _binds_run(block):
                    return True
    return False


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 0
        message = getattr(exc, "msg", None) or str(exc)
        print(json.dumps({"ok": False, "kind": "syntax", "line": line, "message": message}))
        return
    if not _binds_run(tree.body):
        print(json.dumps({"ok": False, "kind": "norun", "line": 0,
                          "message": "defines no top-level run(mini_batch) function"}))
        return
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
