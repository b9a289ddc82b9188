"""prs's azureml.core.run: Run.get_context, an offline run whose logged
values go to the EntryScript log (see azureml.core)."""

import uuid

__all__ = ["Run"]


def _logger():
    from azureml_user.parallel_run import EntryScript

    return EntryScript().logger


class Run:
    """An offline run, as Azure ML's Run.get_context() returns outside a
    workspace: what it logs goes to the EntryScript log."""

    _context = None

    def __init__(self):
        self.id = "OfflineRun_" + str(uuid.uuid4())
        self.parent = None
        self._tags = {}

    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs):
        """Returns this process's offline run."""
        if cls._context is None:
            cls._context = cls()
        return cls._context

    def log(self, name, value, description="", step=None):
        """Logs a value under name in the EntryScript log."""
        _logger().info("Run.log %s=%r%s", name, value, _described(description))

    def log_list(self, name, value, description=""):
        """Logs a list of values under name in the EntryScript log."""
        _logger().info("Run.log_list %s=%r%s", name, list(value), _described(description))

    def log_row(self, name, description=None, **kwargs):
        """Logs a row of named values under name in the EntryScript log."""
        _logger().info("Run.log_row %s=%r%s", name, dict(kwargs), _described(description))

    def log_table(self, name, value, description=""):
        """Logs a table (a dict of columns) under name in the EntryScript log."""
        _logger().info("Run.log_table %s=%r%s", name, value, _described(description))

    def tag(self, key, value=None):
        """Tags the run; the tag is logged and kept for get_tags()."""
        self._tags[key] = value
        _logger().info("Run.tag %s=%r", key, value)

    def set_tags(self, tags):
        """Tags the run with each of tags."""
        for key, value in dict(tags).items():
            self.tag(key, value)

    def get_tags(self):
        """Returns the run's tags."""
        return dict(self._tags)

    def flush(self, timeout_seconds=300):
        """Does nothing: the log is written as values are logged."""

    def complete(self, _set_status=True):
        """Does nothing: an offline run has no state."""

    def __repr__(self):
        return "Run(id=%r, offline)" % (self.id,)


def _described(description):
    return " (%s)" % description if description else ""
