"""The parts of the GPU check that ``benchmarks/gpu_check.py`` runs.

* :mod:`gpucheck.plan`: the steps in order and the sizes of each, on the GPU or in a dry run;
* :mod:`gpucheck.targets`: the figures README quotes and the target each is set against;
* :mod:`gpucheck.log`: the log, the progress lines and the ``--max-minutes`` deadline;
* :mod:`gpucheck.summary`: ``gpu_check.json`` and the closing table of figures against targets;
* :mod:`gpucheck.check`: the state the steps share and the running of one step;
* :mod:`gpucheck.steps`: the steps themselves.

The package imports only the standard library at import time; torch, NumPy and featvslearn are
imported by the functions that use them, so that a missing module is reported by the check.
"""
