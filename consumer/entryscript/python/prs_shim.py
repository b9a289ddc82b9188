"""Serves the prs entry-script protocol (PROTOCOL.md) for a ParallelRunStep
entry script.

Started as `python -u prs_shim.py ENTRY_SCRIPT [ARGUMENTS...]`. Requests come
one JSON object a line on fd PRS_PROTOCOL_IN, responses go the same way to fd
PRS_PROTOCOL_OUT; stdout and stderr belong to the user's script.
"""

import importlib.machinery
import importlib.util
import inspect
import io
import json
import math
import os
import sys
import traceback

_SHIM = os.path.abspath(__file__)


def _internal(filename):
    """Reports whether a traceback frame belongs to this shim or to importlib."""
    return filename == _SHIM or filename.startswith("<frozen importlib")


def _error(exc):
    """The wire form of an exception, with the shim's own frames left out."""
    tb = exc.__traceback__
    while tb is not None and _internal(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc), "traceback": text}}


def _protocol_error(message):
    return {"ok": False, "error": {"type": "ProtocolError", "message": message, "traceback": ""}}


def _text(value):
    """A row of the default text output, as ParallelRunStep writes it: str()
    of the element; bytes decoded as UTF-8, a byte that is not UTF-8 kept
    as it is (surrogateescape, so that the worker writes that byte)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def _jsonable(value):
    """Converts one element of run()'s result to a JSON value (output_format
    csv, jsonl or parquet)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if type(value).__module__ == "numpy":
        if getattr(value, "ndim", 0) >= 1:  # an array: a list of its elements
            return [_jsonable(v) for v in value]
        if str(getattr(value, "dtype", "")) in ("float32", "float16"):
            return _jsonable(float(str(value)))  # as it prints: 0.1
        if hasattr(value, "item"):
            return _jsonable(value.item())
    return str(value)


def _cell(value):
    """Converts one DataFrame value to a JSON value, at full precision:
    missing values (None, NaN, NaT, NA) become null, numpy scalars and
    arrays their Python values (float32 as the number it prints as), bytes
    UTF-8 text (a byte that is not UTF-8 kept, as surrogateescape does),
    Decimal a number, timestamps and durations ISO 8601 text; lists, tuples
    and dicts are converted value by value."""
    if value is None:
        return None
    module = type(value).__module__
    if module == "numpy":
        if hasattr(value, "tolist") and getattr(value, "shape", None) != ():
            return [_cell(v) for v in value.tolist()]
        if getattr(value, "dtype", None) is not None and str(value.dtype) in ("float32", "float16"):
            value = float(str(value))
        elif hasattr(value, "item"):
            value = value.item()
    if isinstance(value, float):
        if value != value:
            return None
        return value if math.isfinite(value) else str(value)
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if type(value).__name__ == "Decimal":
        return float(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _cell(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cell(v) for v in value]
    if hasattr(value, "isoformat") and callable(value.isoformat):
        return value.isoformat()
    return _jsonable(value)


def _elements(result):
    """The elements of what run() returned, one per successful item: a list
    or tuple as it is, a numpy array (or a pandas Series) as the list of its
    first-axis elements. Anything else is a TypeError."""
    if isinstance(result, (list, tuple)):
        return result
    module = type(result).__module__.split(".")[0]
    if module == "numpy" and type(result).__name__ == "ndarray" and result.ndim >= 1:
        return list(result)
    if module == "pandas" and type(result).__name__ == "Series":
        return list(result)
    raise TypeError(
        "run() must return a list (or a tuple, a numpy array, a pandas Series or "
        "DataFrame) with one element per successful item, but it returned %s" % type(result).__name__
    )


def _rows(result, output_format):
    """Converts run()'s result to (rows, columns): one row per successful
    item; columns is None unless run() returned a DataFrame, whose rows are
    then lists of values (the worker writes them as output_format says).
    Other rows are str() of each element for the default text output, as
    ParallelRunStep writes them, and JSON values for the other formats."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(result, pandas.DataFrame):
        columns = []
        for _, series in result.items():
            if str(series.dtype) in ("float32", "float16"):
                # As the number prints (0.1), not its binary value widened.
                columns.append([_cell(float(str(v))) for v in series.to_numpy()])
            else:
                columns.append([_cell(v) for v in series.tolist()])
        rows = [list(r) for r in zip(*columns)] if columns else [[] for _ in range(len(result))]
        return rows, [str(c) for c in result.columns]
    convert = _text if output_format == "text" else _jsonable
    return [convert(v) for v in _elements(result)], None


def _load(path):
    """Imports the entry script as a module named after its file."""
    if not os.path.isfile(path):
        raise FileNotFoundError("entry script %s does not exist" % path)
    name = os.path.splitext(os.path.basename(path))[0] or "entry_script"
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    # Registered so that pickle, dataclasses and the like find the module;
    # never over a module that is already loaded (a script called json.py).
    registered = name not in sys.modules
    if registered:
        sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        if registered:
            sys.modules.pop(name, None)
        raise
    return module


class Dataset:
    """mini_batch_context.dataset: the job's input, by its name ("input")
    and uri (the job's input folder, s3:// prefix or file, as configured)."""

    def __init__(self, name, uri):
        self.name = name
        self.uri = uri

    def __repr__(self):
        return "Dataset(name=%r, uri=%r)" % (self.name, self.uri)


class MiniBatchContext:
    """run()'s second argument, as in ParallelRunStep: partition_key_value
    is the dict of the mini-batch's partition_keys values, in the order of
    partition_keys, each typed as run()'s data holds it (None without
    partition_keys); dataset is the job's input (a Dataset); minibatch_index
    is the mini-batch's index, from 0."""

    def __init__(self, partition_key_value, dataset=None, minibatch_index=None):
        self.partition_key_value = partition_key_value
        self.dataset = dataset
        self.minibatch_index = minibatch_index

    def __repr__(self):
        return "MiniBatchContext(partition_key_value=%r, dataset=%r, minibatch_index=%r)" % (
            self.partition_key_value, self.dataset, self.minibatch_index)


def _mini_batch_context(request):
    """Builds run()'s MiniBatchContext from a run request's context."""
    context = request.get("context") or {}
    dataset = context.get("dataset")
    if isinstance(dataset, dict):
        dataset = Dataset(dataset.get("name"), dataset.get("uri"))
    index = context.get("minibatch_index")
    if index is None:
        index = (request.get("batch") or {}).get("index")
    return MiniBatchContext(context.get("partition_key_value"), dataset, index)


def _context_mode(run):
    """How run takes the mini-batch context, as ParallelRunStep's
    run(mini_batch, mini_batch_context): "positional" when run has a second
    positional parameter (unless it has a default and a name that is not
    about a context, such as run(mb, verbose=False)) or *args; "keyword"
    when it has a keyword-only parameter mini_batch_context; else None."""
    try:
        params = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2:
        second = positional[1]
        name = second.name.lower()
        if second.default is second.empty or "context" in name or "ctx" in name:
            return "positional"
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return "positional"
    if any(p.kind == p.KEYWORD_ONLY and p.name == "mini_batch_context" for p in params):
        return "keyword"
    return None


def _import_pandas():
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            "this job's input is tabular, so run() receives a pandas DataFrame, but the "
            "interpreter %s cannot import pandas (%s). Install it for that interpreter "
            "(Debian: apt-get install python3-pandas; or pip install pandas) or set "
            "interpreter to a Python that has it." % (sys.executable, exc)
        ) from None
    return pandas


def _dataframe(table):
    """Builds run()'s DataFrame from a tabular mini-batch. A part of one
    (isolate_failures) keeps its rows' index: it starts at first_index."""
    pandas = _import_pandas()
    columns = table.get("columns") or None
    if table.get("format") == "csv":
        # A byte that is not UTF-8 comes as surrogateescape makes it, and
        # stays so in the DataFrame's strings.
        data = (table.get("csv") or "").encode("utf-8", "surrogateescape")
        try:
            frame = pandas.read_csv(io.BytesIO(data), encoding="utf-8", encoding_errors="surrogateescape")
        except TypeError:  # a pandas older than 1.3: no encoding_errors
            frame = pandas.read_csv(io.StringIO(data.decode("utf-8", "replace")))
    else:
        frame = pandas.DataFrame(table.get("records") or [], columns=columns)
    first = table.get("first_index") or 0
    if first:
        frame.index = pandas.RangeIndex(first, first + len(frame))
    return frame


class _Script:
    def __init__(self, path):
        self.path = path
        self.module = None
        self.context = None
        self.output_format = "text"

    def init(self, tabular=False, output_format="text"):
        self.output_format = output_format or "text"
        if tabular:
            _import_pandas()
        module = _load(self.path)
        run = getattr(module, "run", None)
        if run is None:
            raise AttributeError("entry script %s defines no run(mini_batch) function" % self.path)
        if not callable(run):
            raise TypeError("entry script %s: run is a %s, not a function" % (self.path, type(run).__name__))
        init = getattr(module, "init", None)
        if init is not None:
            if not callable(init):
                raise TypeError("entry script %s: init is a %s, not a function" % (self.path, type(init).__name__))
            init()
        self.module = module
        self.context = _context_mode(run)
        return {"ok": True}

    def run(self, request):
        if self.module is None:
            return _protocol_error("run before a successful init")
        table = request.get("table")
        mini_batch = _dataframe(table) if table is not None else (request.get("mini_batch") or [])
        if self.context:
            ctx = _mini_batch_context(request)
            if self.context == "keyword":
                result = self.module.run(mini_batch, mini_batch_context=ctx)
            else:
                result = self.module.run(mini_batch, ctx)
        else:
            result = self.module.run(mini_batch)
        rows, columns = _rows(result, self.output_format)
        return {"ok": True, "rows": rows, "columns": columns}

    def shutdown(self):
        shutdown = getattr(self.module, "shutdown", None) if self.module is not None else None
        if callable(shutdown):
            shutdown()
        return {"ok": True}


def _serve(script, op, request):
    try:
        if op == "init":
            return script.init(bool(request.get("tabular")), request.get("output_format") or "text")
        if op == "run":
            return script.run(request)
        if op == "shutdown":
            return script.shutdown()
        return _protocol_error("unknown op %r" % (op,))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too
        return _error(exc)


def _flush_user_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _encode(response):
    try:
        text = json.dumps(response, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except BaseException as exc:  # a row that json cannot write (a cycle, say)
        response = _error(exc)
        text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: a byte that is not UTF-8 in a file name or in
        # bytes run() returned (surrogateescape). ASCII JSON writes it as the
        # escape \udcXX, which the worker turns back into that byte.
        return json.dumps(response, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def main():
    fd_in = int(os.environ.get("PRS_PROTOCOL_IN", "3"))
    fd_out = int(os.environ.get("PRS_PROTOCOL_OUT", "4"))
    # The user's subprocesses must not hold the protocol pipes open.
    os.set_inheritable(fd_in, False)
    os.set_inheritable(fd_out, False)
    requests = os.fdopen(fd_in, "rb")
    responses = os.fdopen(fd_out, "wb")

    if len(sys.argv) < 2:
        sys.stderr.write("usage: prs_shim.py ENTRY_SCRIPT [ARGUMENTS...]\n")
        return 2
    script = _Script(os.path.abspath(sys.argv[1]))
    # The script sees the argv and the import path it would see when run as
    # `python ENTRY_SCRIPT ARGUMENTS...`.
    sys.argv = [script.path] + sys.argv[2:]
    sys.path[0] = os.path.dirname(script.path)

    while True:
        line = requests.readline()
        if not line:
            return 0  # the worker closed the pipe
        try:
            # A byte that is not UTF-8 becomes what surrogateescape makes of
            # it, as the \udcXX escapes of names do.
            request = json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError as exc:
            request = exc
        if isinstance(request, dict):
            op = request.get("op")
            response = _serve(script, op, request)
        else:
            op = None
            response = _protocol_error("request is not a JSON object: %.200r" % (line,))
        _flush_user_streams()
        responses.write(_encode(response) + b"\n")
        responses.flush()
        if op == "shutdown":
            return 0


if __name__ == "__main__":
    sys.exit(main())
