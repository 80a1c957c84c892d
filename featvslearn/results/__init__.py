"""Typed results of ``compare``, ``scaling``, ``ablate`` and merged comparisons: one schema, strict JSON,
schema versions.

The result records are plain dataclasses (the runners build them); :func:`read_json` checks a
file against them with pydantic (strict types, no unknown fields) and returns the same objects,
and :func:`write_json` writes them as strict JSON (no NaN or Infinity). Every problem a file can
have — not JSON, the Markdown report passed by mistake, another kind, a missing or mistyped
field, an unknown schema version — is one :class:`~featvslearn.errors.UserError` line that
names the file and the problem.

Schema versions (``schema_version``, first key of every file):

* **2** (written now). Non-finite floats are written as ``null``, and ``null_reasons`` maps the
  path of each such value (``"pipelines[0].images_per_second"``) to why it is missing. New
  optional fields: ``machine_busy`` on every kind; ``tests`` (paired significance tests) on
  compare results; ``cpu_seconds`` and ``other_load_percent`` on stages;
  ``other_load_percent_mean`` on pipelines, scaling runs and ablation variants;
  ``accuracy_interval`` (95 % Wilson) on pipelines and variants; ``correct`` (which test images
  a pipeline got right, packed: :func:`encode_correct`, :func:`decode_correct`) on pipelines.
  The kind ``merged-compare`` (several compare results side by side, each whole, with the files
  they came from and a baseline row) came later without a new version: it adds a kind and changes
  none, so every file written before still reads, and an older featvslearn refuses it by its kind.
* **1**: the same records without those fields; NaN and Infinity could appear. Version-1 files
  still load: their non-finite numbers become None, with a reason in ``null_reasons``.

The JSON Schema of version 2, committed as ``docs/results.schema.json``, comes from this package
(:mod:`featvslearn.results.schema`, run by ``featvslearn/results/__main__.py``)::

    python -m featvslearn.results --schema > docs/results.schema.json

and ``tests/test_results.py`` checks that the committed file is what :func:`json_schema_text`
generates.

The package, by part (each module imports only those above it, but for the one import that
``from_dict`` in kinds.py makes when called)::

    records.py      the parts of a file (stages, pipelines, runs, variants) and their field types;
                    encode_image / decode_image, encode_correct / decode_correct
    strict_json.py  non-finite floats as null with a reason; dumps (indented strict JSON text)
    kinds.py        CompareResults, ScalingResults, AblateResults, MergedCompareResults (several compare
                    results side by side); dataset_key; SCHEMA_VERSION, RESULT_KINDS
    validation.py   results_from_dict: version, kind, types, consistency, one-line errors
    jsonfile.py     write_json, read_json
    schema.py       json_schema, json_schema_text, and main (the --schema script)

Import from ``featvslearn.results`` itself; the modules are its inside.
"""

from featvslearn.results.jsonfile import (
    read_json,
    write_json,
)
from featvslearn.results.kinds import (
    RESULT_KINDS,
    SCHEMA_VERSION,
    AblateResults,
    CompareResults,
    MergedCompareResults,
    Results,
    ScalingResults,
    dataset_key,
)
from featvslearn.results.records import (
    Base64,
    Crossover,
    DatasetInfo,
    Fraction,
    ImageSizing,
    Interval,
    MisclassifiedExample,
    NonNegativeSeconds,
    PackedBits,
    PairedTest,
    PipelineResult,
    PositiveInt,
    ScalingRun,
    SeedRun,
    SizeSummary,
    StageResult,
    Timeline,
    VariantResult,
    decode_correct,
    decode_image,
    encode_correct,
    encode_image,
)
from featvslearn.results.schema import (
    json_schema,
    json_schema_text,
    main,
)
from featvslearn.results.strict_json import (
    NULL_REASONS,
    dumps,
)
from featvslearn.results.validation import (
    MAX_DEPTH,
    READABLE_VERSIONS,
    results_from_dict,
)

__all__ = [
    "MAX_DEPTH",
    "NULL_REASONS",
    "READABLE_VERSIONS",
    "RESULT_KINDS",
    "SCHEMA_VERSION",
    "AblateResults",
    "Base64",
    "CompareResults",
    "Crossover",
    "DatasetInfo",
    "Fraction",
    "ImageSizing",
    "Interval",
    "MergedCompareResults",
    "MisclassifiedExample",
    "NonNegativeSeconds",
    "PackedBits",
    "PairedTest",
    "PipelineResult",
    "PositiveInt",
    "Results",
    "ScalingResults",
    "ScalingRun",
    "SeedRun",
    "SizeSummary",
    "StageResult",
    "Timeline",
    "VariantResult",
    "dataset_key",
    "decode_correct",
    "decode_image",
    "dumps",
    "encode_correct",
    "encode_image",
    "json_schema",
    "json_schema_text",
    "main",
    "read_json",
    "results_from_dict",
    "write_json",
]
