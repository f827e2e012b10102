"""The success-metric gate: judge a model's logged metrics against the alignment spec and record
the verdict on the model's run and registered version. (The room is ``gating`` so that
``alignment_mlflow.gate`` stays the function.)

Pure core: ``parsing`` (the strings a user types: ``SLUG=KEY:unit``, ``models:/NAME/VERSION``,
units and percentiles in metric keys), ``verdict`` (operators, unit conversion, per-metric status,
overall verdict, the tags and table that record it), ``result`` (what ``gate()`` returns and
how it renders), and for ``gate --endpoint`` ``prometheus`` (the text format), ``endpoint`` (an
export as a latency measurement over a window) and ``measured`` (serving targets judged on it).
I/O: ``mlflow_io`` (reads and compare-first writes through an ``MlflowClient``), ``endpoint_io``
(the serving endpoint's metrics export through databricks-sdk) and ``api`` (the
orchestration behind ``alignment_mlflow.gate`` and ``alignment-mlflow gate``).
Importing this package imports none of them.
"""
