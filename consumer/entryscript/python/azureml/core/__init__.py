"""prs's azureml.core: what ParallelRunStep entry scripts use of it, offline.

Covered, and nothing else:

- ``Model.get_model_path(model_name, version=None, _workspace=None)``
  returns the local path of the model that the job names ``model_name`` in
  its ``models`` setting (``models: {NAME: URI}``, or ``--model NAME=URI``):
  a file, or a folder for a model given as a folder or an s3:// prefix.
  Each worker fetches a job's models once. ``version`` and ``_workspace``
  are accepted and ignored: a job names one model per name. A name the job
  does not name raises ``ModelNotFoundException``, which lists the names it
  does. ``from azureml.core import Model`` and ``from azureml.core.model
  import Model`` both work.
- ``Run.get_context(allow_offline=True)`` returns an offline run (the same
  one in a process), whose ``log(name, value, description="")``,
  ``log_list(name, value, description="")``, ``log_row(name,
  description=None, **kwargs)``, ``log_table(name, value, description="")``,
  ``tag(key, value=None)``, ``set_tags(tags)`` and ``get_tags()`` work: the
  values are written to the EntryScript log (``EntryScript().logger``, the
  job's ``logs/user/entry_script_log/``), not to a workspace. ``id`` is
  ``OfflineRun_<uuid>``; ``parent`` is None; ``flush()`` and ``complete()``
  do nothing. ``from azureml.core import Run`` and ``from azureml.core.run
  import Run`` both work.

Anything else of azureml.core (Workspace, Dataset, Experiment, Environment,
a Model object, ...) needs a workspace, which a prs job does not have:
importing it raises an ImportError that says so.
"""

from azureml.core.model import Model, ModelNotFoundException
from azureml.core.run import Run

__all__ = ["Model", "ModelNotFoundException", "Run"]


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(
        "azureml.core.%s is not available under prs: prs provides azureml.core's Model.get_model_path "
        "and Run.get_context only (a job has no Azure ML workspace); see the README's "
        "'Coming from ParallelRunStep'" % name
    )
