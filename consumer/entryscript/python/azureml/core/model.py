"""prs's azureml.core.model: Model.get_model_path (see azureml.core)."""

import json
import os

__all__ = ["Model", "ModelNotFoundException"]


class ModelNotFoundException(Exception):
    """The job names no model by that name."""


def _models():
    try:
        models = json.loads(os.environ.get("PRS_MODELS") or "{}")
    except ValueError:
        models = {}
    return models if isinstance(models, dict) else {}


class Model:
    """Model.get_model_path is the part of Azure ML's Model that prs
    provides; a Model object needs a workspace, which a prs job has not."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "azureml.core.Model objects need an Azure ML workspace, which a prs job does not have; "
            "use Model.get_model_path(name) with the job's models setting"
        )

    @staticmethod
    def get_model_path(model_name, version=None, _workspace=None):
        """Returns the local path of the job's model named model_name (a
        file, or a folder). version and _workspace are ignored: the job
        names one model per name."""
        models = _models()
        path = models.get(model_name)
        if path is None:
            known = ", ".join(repr(n) for n in sorted(models)) or "none"
            raise ModelNotFoundException(
                "model %r is not one of this job's models (the job's models: %s); name it in the job's "
                "settings (models: {%s: URI}, or --model %s=URI), where URI is a local file or folder or "
                "an s3:// object or prefix" % (model_name, known, model_name, model_name)
            )
        return path
