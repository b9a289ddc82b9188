"""A small part of the Azure ML SDK, provided by prs (see azureml.core).

Other azureml packages installed for the interpreter (azureml.dataprep, ...)
stay importable: this package extends its path over every azureml folder on
sys.path.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
