"""The experiments: one measured run (:mod:`.run`), and the commands built on it — :mod:`.compare`
(pipelines side by side), :mod:`.scaling` (the data factor), :mod:`.ablation` (the algorithms
factor) — with their settings (:mod:`.config`), sweeps (:mod:`.sweep`, :mod:`.runlog`) and the
merging of results files (:mod:`.merge`). Importing this package loads nothing.
"""
