"""The part of Azure ML's azureml_user package that ParallelRunStep entry
scripts import, provided by prs."""
