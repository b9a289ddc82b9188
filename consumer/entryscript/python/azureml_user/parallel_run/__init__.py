"""ParallelRunStep's EntryScript helper, provided by prs.

    from azureml_user.parallel_run import EntryScript

    entry_script = EntryScript()
    entry_script.logger.info("loading the model")

The values come from the environment the prs worker starts the script with.
"""

import logging
import os
import sys

__all__ = ["EntryScript"]

_LOGGER_NAME = "azureml_user.parallel_run"


def _logger():
    logger = logging.getLogger(_LOGGER_NAME)
    if not getattr(logger, "_prs_configured", False):
        # The agent (WORKER.SLOT) tells apart the slots whose records share
        # a worker's file.
        agent = os.environ.get("PRS_AGENT_NAME", "").replace("%", "%%")
        fmt = logging.Formatter("%(asctime)s|%(levelname)s|%(name)s|" + agent + "|%(message)s")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(fmt)
        logger.addHandler(handler)
        # prs keeps the logger's records apart too, for the job's log layout
        # (logs/user/entry_script_log/<host>/<worker>.log.txt).
        log_dir = os.environ.get("PRS_LOG_DIR", "")
        if log_dir and os.path.isdir(log_dir):
            try:
                fh = logging.FileHandler(os.path.join(log_dir, "entry_script.log.txt"))
                fh.setFormatter(fmt)
                logger.addHandler(fh)
            except OSError:
                pass
        try:
            logger.setLevel(os.environ.get("PRS_LOGGING_LEVEL", "").upper() or "INFO")
        except ValueError:
            logger.setLevel(logging.INFO)
        # The handler above already writes every record; the root logger,
        # configured or not by the script, must not write it again.
        logger.propagate = False
        logger._prs_configured = True
    return logger


class EntryScript:
    """What the running entry script can learn about its job and its worker."""

    @property
    def logger(self):
        """A logging.Logger whose records go to the script's stderr."""
        return _logger()

    @property
    def output_dir(self):
        """A local folder the script may write files to."""
        return os.environ.get("PRS_OUTPUT_DIR", "")

    @property
    def working_dir(self):
        """The script's private scratch folder (its working directory)."""
        return os.environ.get("PRS_WORKING_DIR", "")

    @property
    def log_dir(self):
        """A local folder for the script's own log files."""
        return os.environ.get("PRS_LOG_DIR", "")

    @property
    def agent_name(self):
        """Names the worker process running the script."""
        return os.environ.get("PRS_AGENT_NAME", "")

    @property
    def job_id(self):
        """The prs job's id."""
        return os.environ.get("PRS_JOB_ID", "")
