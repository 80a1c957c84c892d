"""Results files: round trips of every kind, version-1 files, strict JSON, and malformed files as one-line errors."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featvslearn.errors import UserError
from featvslearn.results import (
    SCHEMA_VERSION,
    AblateResults,
    CompareResults,
    Crossover,
    DatasetInfo,
    MisclassifiedExample,
    PairedTest,
    PipelineResult,
    Results,
    ScalingResults,
    ScalingRun,
    StageResult,
    Timeline,
    VariantResult,
    decode_correct,
    dumps,
    encode_correct,
    encode_image,
    json_schema_text,
    main,
    read_json,
    write_json,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted((ROOT / "docs" / "results").glob("*.json"))
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --------------------------------------------------------------------------- hand-made results of each kind
def _dataset(test_size: int = 4) -> DatasetInfo:
    return DatasetInfo(name="shapes", train_size=12, test_size=test_size, image_shape=[8, 8, 1], num_classes=2,
                       source="hand-made", class_names=["bars", "disc"], load_seconds=0.1)


def _stage(name: str) -> StageResult:
    return StageResult(name=name, device="cpu", seconds=0.5, cpu_util_percent_mean=40.0, peak_rss_bytes=1 << 20,
                       cpu_seconds=0.9, other_load_percent=3.5)


def _pipeline(name: str, correct: list[bool]) -> PipelineResult:
    accuracy = sum(correct) / len(correct)
    return PipelineResult(
        name=name, accuracy=accuracy, train_seconds=1.5, predict_seconds=0.25, images_per_second=16.0, device="cpu",
        gpu_util_percent_mean=None, gpu_util_percent_max=None, gpu_util_samples=0, peak_gpu_memory_bytes=None,
        cpu_util_percent_mean=55.0, peak_rss_bytes=1 << 21, stages=[_stage("features"), _stage("predict")],
        warmup_seconds=0.1, per_class_accuracy=[accuracy, accuracy], confusion_matrix=[[2, 0], [1, 1]],
        details={"svm": {"kind": "linear", "C": 1.0}},
        misclassified=[MisclassifiedExample(index=2, label=1, prediction=0,
                                            image=encode_image(np.zeros((8, 8, 1), np.uint8)))],
        timeline=Timeline(t_seconds=[0.0, 0.5], gpu_util_percent=None, cpu_util_percent=[30.0, 60.0],
                          rss_bytes=[1, 2], stages=[{"name": "features", "device": "cpu", "start_seconds": 0.0,
                                                     "end_seconds": 0.5}]),
        other_load_percent_mean=2.0, accuracy_interval=(max(accuracy - 0.4, 0.0), min(accuracy + 0.2, 1.0)),
        correct=encode_correct(correct),
    )


def compare_results() -> CompareResults:
    return CompareResults(
        dataset=_dataset(), device="cpu", seed=0, environment={"featvslearn": "test"},
        pipelines=[_pipeline("hog-svm", [True, True, False, True]), _pipeline("cnn", [True, False, False, True])],
        settings={"skipped_files": []}, created="2026-01-01T00:00:00+00:00", total_seconds=4.0,
        machine_busy=False,
        tests=[PairedTest(pipelines=["hog-svm", "cnn"], test="mcnemar-exact", p_value=1.0, a_only=1, b_only=0, n=4)],
    )


def scaling_results() -> ScalingResults:
    sizes, seeds = [4, 12], [0, 1]
    runs = {name: [ScalingRun(train_size=size, seed=seed, accuracy=0.5 + size / 100, train_seconds=0.1 * size,
                              other_load_percent_mean=1.0) for size in sizes for seed in seeds]
            for name in ("hog-svm", "cnn")}
    return ScalingResults(
        dataset=_dataset(), device="cpu", seed=0, seeds=seeds, sizes=sizes, environment={"featvslearn": "test"},
        settings={"pipelines": ["hog-svm", "cnn"]}, pipelines=runs,
        crossover={"hog-svm": Crossover(size=12, estimate=8.5, between=[4, 12], reason="the CNN is ahead from 12")},
        created="2026-01-01T00:00:00+00:00", total_seconds=9.0, machine_busy=True,
    )


def ablate_results() -> AblateResults:
    variant = VariantResult(
        name="relu-bn", activation="relu", batch_norm=True, dropout=0.0, depth=5, accuracy=0.75, train_seconds=2.0,
        loss_curve={"epoch": [0.5, 1.0], "loss": [1.2, None]}, loss_per_epoch=[1.0, None], seconds_per_epoch=[1.0, 1.0],
        predict_seconds=0.1, warmup_seconds=0.05, diverged=False, parameters=1234, flops_per_image=5678, lr=0.01,
        device="cpu", gpu_util_percent_mean=None, gpu_util_percent_max=None, gpu_util_samples=0,
        peak_gpu_memory_bytes=None, cpu_util_percent_mean=70.0, peak_rss_bytes=1 << 22, stages=[_stage("train")],
        per_class_accuracy=[0.5, 1.0], details={"train_images_per_second": 100.0}, other_load_percent_mean=0.5,
        accuracy_interval=(0.3, 0.95),
    )
    return AblateResults(
        dataset=_dataset(), device="cpu", seed=0, environment={"featvslearn": "test"}, variants=[variant],
        settings={"epochs": 2}, created="2026-01-01T00:00:00+00:00", total_seconds=3.0,
    )


MAKERS = {"compare": compare_results, "scaling": scaling_results, "ablate": ablate_results}


def strict_loads(text: str) -> Any:
    """JSON as a strict parser reads it: NaN, Infinity and -Infinity are an error."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def _user_error(path: Path) -> str:
    """The message of the UserError reading ``path`` raises, checked to be one line that names the file."""
    with pytest.raises(UserError) as caught:
        read_json(path)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message, message
    assert path.name in message, message
    return message


# --------------------------------------------------------------------------- round trips and strict JSON
@pytest.mark.parametrize("kind", MAKERS)
def test_each_kind_round_trips(kind: str, tmp_path: Path) -> None:
    results = MAKERS[kind]()
    path = tmp_path / "r.json"
    write_json(results, path)
    document = strict_loads(path.read_text())
    assert list(document)[:2] == ["schema_version", "kind"]
    assert document["schema_version"] == SCHEMA_VERSION == 2 and document["kind"] == kind
    loaded = read_json(path)
    assert loaded == results
    assert loaded.to_dict() == document == results.to_dict()
    assert type(loaded).from_dict(document) == results


def test_producers_without_the_new_fields_still_write_readable_files(tmp_path: Path) -> None:
    pipeline = dataclasses.replace(_pipeline("cnn", [True] * 4), other_load_percent_mean=None,
                                   accuracy_interval=None, correct=None,
                                   stages=[StageResult(name="train", device="cpu", seconds=1.0)])
    results = dataclasses.replace(compare_results(), pipelines=[pipeline], tests=[], machine_busy=None)
    write_json(results, tmp_path / "r.json")
    loaded = read_json(tmp_path / "r.json")
    assert loaded == results
    assert loaded.pipelines[0].stages[0].cpu_seconds is None and loaded.tests == [] and loaded.null_reasons == {}


def test_correct_packs_and_unpacks() -> None:
    for length in (0, 1, 7, 8, 9, 10_000):
        values = np.random.default_rng(length).random(length) < 0.7
        packed = encode_correct(values)
        assert packed.length == length and len(packed.bits) <= 4 * ((length + 7) // 8 + 2) // 3 + 4
        decoded = decode_correct(packed)
        assert decoded.dtype == bool and np.array_equal(decoded, values)
    assert np.array_equal(decode_correct(encode_correct([True, False, True])), [True, False, True])


@given(st.lists(st.booleans(), max_size=300))
def test_correct_round_trips_any_vector(values: list[bool]) -> None:
    assert decode_correct(encode_correct(values)).tolist() == values


def test_a_bad_correct_vector_is_a_user_error() -> None:
    good = encode_correct([True] * 9)
    for bad in (dataclasses.replace(good, bits="!!!"), dataclasses.replace(good, length=20),
                dataclasses.replace(good, length=8), dataclasses.replace(good, bits="/4E=")):
        with pytest.raises(UserError, match="correct vector"):
            decode_correct(bad)


def test_non_finite_floats_are_written_as_null_with_a_reason(tmp_path: Path) -> None:
    results = compare_results()
    results.pipelines[0].images_per_second = math.inf
    results.pipelines[1].stages[0].cpu_seconds = math.nan
    results.pipelines[1].details["ratio"] = [1.0, -math.inf]
    path = tmp_path / "r.json"
    write_json(results, path)
    text = path.read_text()
    document = strict_loads(text)
    assert document["pipelines"][0]["images_per_second"] is None
    loaded = read_json(path)
    assert loaded.pipelines[0].images_per_second is None
    assert loaded.pipelines[1].stages[0].cpu_seconds is None and loaded.pipelines[1].details["ratio"] == [1.0, None]
    assert "0 s" in loaded.null_reasons["pipelines[0].images_per_second"]
    assert set(loaded.null_reasons) == {"pipelines[0].images_per_second", "pipelines[1].stages[0].cpu_seconds",
                                        "pipelines[1].details.ratio[1]"}
    assert loaded.to_dict() == document
    with pytest.raises(ValueError):
        dumps({"x": math.nan})


@FUZZ
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=4, max_size=4),
       kind=st.sampled_from(list(MAKERS)))
def test_written_files_are_always_strict_json(values: list[float], kind: str, tmp_path: Path) -> None:
    results = MAKERS[kind]()
    results.settings["measured"] = values
    results.environment["x"] = {"nested": values[0]}
    if isinstance(results, CompareResults):
        results.pipelines[0].images_per_second = values[1]
        results.pipelines[1].other_load_percent_mean = values[2]
    elif isinstance(results, AblateResults):
        results.variants[0].loss_per_epoch = values
    else:
        results.pipelines["cnn"][0].other_load_percent_mean = values[3]
    path = tmp_path / "r.json"
    write_json(results, path)
    document = strict_loads(path.read_text())
    loaded = read_json(path)
    assert loaded.to_dict() == document
    non_finite = sum(not math.isfinite(v) for v in values)
    assert len(loaded.null_reasons) >= non_finite


# --------------------------------------------------------------------------- version 1
def _as_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as featvslearn wrote it with schema version 1: none of the version-2 fields."""
    added = {"machine_busy", "tests", "null_reasons", "cpu_seconds", "other_load_percent", "other_load_percent_mean",
             "accuracy_interval", "correct"}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in added}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {**strip(document), "schema_version": 1}


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_the_committed_results_load_and_render(path: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from featvslearn.cli import app

    assert json.loads(path.read_text())["schema_version"] in (1, SCHEMA_VERSION)
    results = read_json(path)
    assert results.schema_version == SCHEMA_VERSION and results.null_reasons == {}
    compare_files = {"fashion", "fashion-cuda", "digits", "budget"}
    assert results.kind == ("compare" if path.stem in compare_files else path.stem)
    again = tmp_path / path.name
    write_json(results, again)
    assert read_json(again) == results
    outcome = CliRunner().invoke(app, ["report", str(path), "--out", str(tmp_path / "out.md")])
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "out.md").read_text().startswith("#")


def test_a_version_1_compare_file_still_reads(tmp_path: Path) -> None:
    document = _as_version_1(compare_results().to_dict())
    document["pipelines"][0]["images_per_second"] = math.inf  # version 1 wrote Infinity when predict took 0 s
    for p in document["pipelines"]:
        del p["misclassified"], p["timeline"]  # and older files lack these
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document, indent=2))
    assert "Infinity" in path.read_text()
    loaded = read_json(path)
    assert isinstance(loaded, CompareResults) and loaded.schema_version == SCHEMA_VERSION
    assert loaded.pipelines[0].images_per_second is None and loaded.pipelines[1].images_per_second == 16.0
    assert "0 s" in loaded.null_reasons["pipelines[0].images_per_second"]
    assert loaded.pipelines[0].misclassified == [] and loaded.pipelines[0].timeline is None
    assert loaded.pipelines[0].correct is None and loaded.tests == [] and loaded.machine_busy is None
    write_json(loaded, tmp_path / "new.json")
    strict_loads((tmp_path / "new.json").read_text())
    assert read_json(tmp_path / "new.json") == loaded


@pytest.mark.parametrize("kind", ["scaling", "ablate"])
def test_version_1_scaling_and_ablate_files_still_read(kind: str, tmp_path: Path) -> None:
    results = MAKERS[kind]()
    loaded = read_json(_write(tmp_path / "old.json", _as_version_1(results.to_dict())))
    assert loaded.kind == kind and loaded.machine_busy is None


def test_a_version_2_file_with_infinity_is_refused(tmp_path: Path) -> None:
    document = compare_results().to_dict()
    document["pipelines"][1]["train_seconds"] = math.inf
    message = _user_error(_write(tmp_path / "r.json", document))
    assert "pipelines[1].train_seconds is NaN or Infinity" in message


# --------------------------------------------------------------------------- files that are not results
def test_files_that_are_not_results_json_are_named_errors(tmp_path: Path) -> None:
    assert "does not exist" in _user_error(tmp_path / "missing.json")
    (tmp_path / "folder.json").mkdir()
    assert "is a folder" in _user_error(tmp_path / "folder.json")
    write_json(compare_results(), tmp_path / "r.json")
    markdown = tmp_path / "r.md"
    markdown.write_text("# featvslearn: hog-svm vs cnn\n\n| pipeline | accuracy |\n")
    assert _user_error(markdown) == (f"{markdown} is the Markdown report; pass the results JSON written with --json "
                                     f"({tmp_path / 'r.json'})")
    lone = tmp_path / "lone.md"
    lone.write_text("some notes\n")
    assert "is a Markdown file, not a results JSON; pass the results JSON written with --json" in _user_error(lone)
    (tmp_path / "bad.json").write_text("{not json")
    assert "is not valid JSON (Expecting property name" in _user_error(tmp_path / "bad.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    assert "is binary, not text" in _user_error(tmp_path / "binary.json")
    (tmp_path / "plot.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    assert "is a PNG image" in _user_error(tmp_path / "plot.json")
    assert "its top level is a list" in _user_error(_write(tmp_path / "list.json", [compare_results().to_dict()]))


@pytest.mark.parametrize("depth", [70, 300, 990, 5_000, 100_000])
def test_values_nested_absurdly_deep_are_refused(depth: int, tmp_path: Path) -> None:
    text = json.dumps(compare_results().to_dict()).replace('"skipped_files": []',
                                                           '"skipped_files": ' + "[" * depth + "]" * depth)
    (tmp_path / "r.json").write_text(text)
    assert "levels deep" in _user_error(tmp_path / "r.json")


def test_the_report_command_refuses_the_markdown_report_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from featvslearn.cli import app

    (tmp_path / "r.md").write_text("# featvslearn report\n")
    outcome = CliRunner().invoke(app, ["report", str(tmp_path / "r.md")])
    assert outcome.exit_code == 2 and "Traceback" not in outcome.output
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is the Markdown report" in errors[0]
    assert (tmp_path / "r.md").read_text() == "# featvslearn report\n"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"schema_version": 3}, "schema version 3, newer than this featvslearn reads (1 to 2); upgrade featvslearn"),
        ({"schema_version": 0}, "schema version 0, which featvslearn never wrote"),
        ({"schema_version": "2"}, 'schema version "2", not a whole number'),
        ({"schema_version": True}, "schema version true, not a whole number"),
        ({"schema_version": None}, "schema version null, not a whole number"),
        ({"kind": "report"}, "has kind \"report\"; featvslearn reads compare, scaling, ablate, merged-compare "
                             "results"),
        ({"kind": None}, "has kind null"),
        ({"pipelines": [{"name": "x"}]}, "compare results are incomplete or malformed: pipelines[0]: missing "
                                         "'accuracy' (and 11 more problems); re-run featvslearn compare --json"),
        ({"seed": True}, "seed should be of type integer, got true"),
        ({"total_seconds": "4"}, 'total_seconds should be of type number, got "4"'),
        ({"extra": 1}, "unknown field 'extra'"),
        ({"tests": [{"pipelines": ["hog-svm", "sift-svm"], "test": "mcnemar-exact", "p_value": 0.5}]},
         "tests[0] names pipeline 'sift-svm', which has no result"),
        ({"tests": [{"pipelines": ["cnn"], "test": "mcnemar-exact", "p_value": 0.5}]},
         "tests[0].pipelines list should have at least 2 items"),
        ({"tests": [{"pipelines": ["cnn", "hog-svm"], "test": "mcnemar-exact", "p_value": 1.5}]},
         "tests[0].p_value should lie in [0, 1], got 1.5"),
    ],
)
def test_malformed_compare_files_name_the_problem(change: dict[str, Any], fragment: str, tmp_path: Path) -> None:
    message = _user_error(_write(tmp_path / "r.json", {**compare_results().to_dict(), **change}))
    assert fragment in message


def test_inconsistent_v2_fields_are_refused(tmp_path: Path) -> None:
    def with_pipeline(**fields: Any) -> dict[str, Any]:
        document = compare_results().to_dict()
        document["pipelines"][0].update(fields)
        return document

    cases = {
        "pipelines[0].correct has 3 values for 4 test images": {"correct": dataclasses.asdict(
            encode_correct([True] * 3))},
        "pipelines[0].correct gives accuracy 0.5, but the pipeline's accuracy is 0.75": {"correct": dataclasses.asdict(
            encode_correct([True, True, False, False]))},
        "pipelines[0].correct holds 2 bytes, but 4 values take 1": {"correct": {"length": 4, "bits": "AAA="}},
        "pipelines[0].correct.bits string should match pattern": {"correct": {"length": 4, "bits": "not base64!"}},
        "pipelines[0].accuracy_interval [0.8, 0.9] does not contain its accuracy 0.75": {"accuracy_interval": [0.8,
                                                                                                               0.9]},
        "pipelines[0].accuracy_interval should be [low, high] with low <= high": {"accuracy_interval": [0.9, 0.1]},
        "pipelines[0].accuracy should lie in [0, 1], got 1.5": {"accuracy": 1.5},
    }
    for fragment, fields in cases.items():
        assert fragment in _user_error(_write(tmp_path / "r.json", with_pipeline(**fields)))


def test_from_dict_checks_the_kind() -> None:
    with pytest.raises(UserError, match="holds results of kind 'compare', which are not ablate results"):
        AblateResults.from_dict(compare_results().to_dict())
    with pytest.raises(UserError, match=r"ablate results are incomplete or malformed: variants\[0\]: missing"):
        AblateResults.from_dict({"schema_version": 1, "kind": "ablate", "variants": [{"name": "x"}], **{
            k: v for k, v in ablate_results().to_dict().items() if k not in ("variants", "schema_version", "kind")}})


def test_scaling_files_keep_their_consistency_checks(tmp_path: Path) -> None:
    document = scaling_results().to_dict()
    cases = {
        "pipelines.cnn does not have exactly one run per size and seed": {
            "pipelines": {**document["pipelines"], "cnn": document["pipelines"]["cnn"][1:]}},
        "crossover of sift-svm, which has no runs": {"crossover": {**document["crossover"],
                                                                   "sift-svm": document["crossover"]["hog-svm"]}},
        "sizes must be ascending": {"sizes": [12, 4]},
        "crossover.hog-svm.between list should have at most 2 items": {
            "crossover": {"hog-svm": {**document["crossover"]["hog-svm"], "between": [1, 2, 3]}}},
        "pipelines.cnn[0].train_size should be greater than or equal to 1": {
            "pipelines": {**document["pipelines"], "cnn": [{**document["pipelines"]["cnn"][0], "train_size": 0},
                                                            *document["pipelines"]["cnn"][1:]]}},
    }
    for fragment, change in cases.items():
        assert fragment in _user_error(_write(tmp_path / "r.json", {**document, **change}))


# --------------------------------------------------------------------------- malformed files, generated
def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of a field's annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0], len(members) < len(typing.get_args(annotation))
    return annotation, False


def _category(annotation: Any) -> str:
    """What a field holds, coarsely: str, int, float, bool, list, dict, record or any."""
    tp, _ = _unwrap(annotation)
    origin = typing.get_origin(tp) or tp
    if origin is Literal:
        return type(typing.get_args(tp)[0]).__name__
    if origin in (list, dict):
        return origin.__name__
    if dataclasses.is_dataclass(tp):
        return "record"
    return tp.__name__ if tp in (str, int, float, bool) else "any"


GARBAGE_LIST = [1, {"deeper": [None, {"x": "y"}]}]
GARBAGE_OBJECT = {"garbage": [1, {"deeper": None}]}
WRONG = {
    "str": [12345, 1.5, True, GARBAGE_LIST, GARBAGE_OBJECT],
    "int": ["garbage", 1.5, True, GARBAGE_LIST, GARBAGE_OBJECT],
    "float": ["garbage", True, GARBAGE_LIST, GARBAGE_OBJECT],
    "bool": ["garbage", 12345, 1.5, GARBAGE_LIST, GARBAGE_OBJECT],
    "list": ["garbage", 12345, True, GARBAGE_OBJECT],
    "dict": ["garbage", 12345, True, GARBAGE_LIST],
    "record": ["garbage", 12345, True, GARBAGE_LIST, GARBAGE_OBJECT],
}


@dataclasses.dataclass
class Spot:
    """One field of a results document: its path, the record's field type, whether it must be there."""

    path: tuple[str | int, ...]
    annotation: Any
    required: bool


def _records(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every record (dataclass) inside ``value``, with its path."""
    if dataclasses.is_dataclass(value):
        yield path, value
        for f in dataclasses.fields(value):
            yield from _records(getattr(value, f.name), (*path, f.name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _records(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _records(item, (*path, key))


def _spots(results: Results) -> tuple[list[Spot], list[tuple[str | int, ...]]]:
    """Every field of every record in ``results`` (kind and schema version aside), and every record's path."""
    spots, records = [], []
    for path, record in _records(results, ()):
        records.append(path)
        hints = typing.get_type_hints(type(record))
        for f in dataclasses.fields(record):
            if f.name in ("kind", "schema_version"):
                continue
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            spots.append(Spot((*path, f.name), hints[f.name], required))
    return spots, records


def _render(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


SPOTS = {kind: _spots(make()) for kind, make in MAKERS.items()}


@st.composite
def _mutation(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """A malformed document of some kind, and a fragment its error must contain."""
    kind = draw(st.sampled_from(list(MAKERS)))
    document = MAKERS[kind]().to_dict()
    spots, records = SPOTS[kind]
    how = draw(st.sampled_from(["drop", "retype", "unknown-field", "garbage-item"]))
    if how == "drop":
        spot = draw(st.sampled_from([s for s in spots if s.required]))
        del _at(document, spot.path[:-1])[spot.path[-1]]
        return kind, document, f"missing {spot.path[-1]!r}"
    if how == "retype":
        spot = draw(st.sampled_from([s for s in spots if _category(s.annotation) != "any"]))
        wrong = list(WRONG[_category(spot.annotation)])
        if not _unwrap(spot.annotation)[1]:
            wrong.append(None)
        _at(document, spot.path[:-1])[spot.path[-1]] = draw(st.sampled_from(wrong))
        return kind, document, _render(spot.path)
    if how == "unknown-field":
        path = draw(st.sampled_from(records))
        name = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
            lambda n: n not in _at(document, path)))
        _at(document, path)[name] = draw(st.sampled_from([None, 1, "x", GARBAGE_OBJECT]))
        return kind, document, f"unknown field {name!r}"
    # a garbage item in a list of plain values (numbers or strings)
    candidates = []
    for spot in spots:
        tp, _ = _unwrap(spot.annotation)
        value = _at(document, spot.path)
        if typing.get_origin(tp) is list and value and _category(typing.get_args(tp)[0]) in ("int", "float", "str"):
            candidates.append(spot)
    spot = draw(st.sampled_from(candidates))
    items = _at(document, spot.path)
    items[draw(st.integers(0, len(items) - 1))] = draw(st.sampled_from([GARBAGE_OBJECT, GARBAGE_LIST]))
    return kind, document, _render(spot.path)


@settings(FUZZ, max_examples=300)
@given(case=_mutation())
def test_generated_malformed_documents_are_one_line_errors_that_name_the_problem(
        case: tuple[str, dict[str, Any], str], tmp_path: Path) -> None:
    kind, document, fragment = case
    message = _user_error(_write(tmp_path / "r.json", document))
    assert f"{kind} results are incomplete or malformed" in message
    assert fragment in message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(document=JSON_VALUES)
def test_any_json_value_is_results_or_a_one_line_error(document: Any, tmp_path: Path) -> None:
    _user_error(_write(tmp_path / "r.json", document))


@FUZZ
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_any_bytes_are_results_or_a_one_line_error(raw: bytes, tmp_path: Path) -> None:
    (tmp_path / "r.json").write_bytes(raw)
    _user_error(tmp_path / "r.json")


@FUZZ
@given(kind=st.sampled_from(list(MAKERS)), rest=st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6))
def test_a_known_header_with_garbage_after_it_is_a_one_line_error(kind: str, rest: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    document = {**rest, "schema_version": 2, "kind": kind}
    assert "malformed" in _user_error(_write(tmp_path / "r.json", document))


@FUZZ
@given(kind=st.sampled_from(list(MAKERS)), top=st.none() | st.booleans() | st.integers() | st.text()
       | st.lists(st.integers(), max_size=3))
def test_a_top_level_that_is_not_an_object_is_refused(kind: str, top: Any, tmp_path: Path) -> None:
    assert "is not a featvslearn results object: its top level is" in _user_error(_write(tmp_path / "r.json", top))


@FUZZ
@given(kind=st.sampled_from(list(MAKERS)),
       other=st.text(max_size=10).filter(lambda k: k not in MAKERS) | st.integers() | st.none()
       | st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.sampled_from(list(MAKERS)), st.none()))
def test_an_unknown_kind_is_refused(kind: str, other: Any, tmp_path: Path) -> None:
    message = _user_error(_write(tmp_path / "r.json", {**MAKERS[kind]().to_dict(), "kind": other}))
    assert "has kind" in message and "featvslearn reads compare, scaling, ablate, merged-compare results" in message


@FUZZ
@given(kind=st.sampled_from(list(MAKERS)), other=st.sampled_from(list(MAKERS)))
def test_another_kinds_body_is_refused(kind: str, other: str, tmp_path: Path) -> None:
    document = {**MAKERS[kind]().to_dict(), "kind": other}
    if kind == other:
        assert read_json(_write(tmp_path / "r.json", document)).kind == kind
    else:
        message = _user_error(_write(tmp_path / "r.json", document))
        assert f"says kind {other!r}, but its fields are those of {kind} results" in message


@FUZZ
@given(kind=st.sampled_from(list(MAKERS)), version=st.integers(min_value=SCHEMA_VERSION + 1))
def test_a_future_schema_version_is_refused(kind: str, version: int, tmp_path: Path) -> None:
    message = _user_error(_write(tmp_path / "r.json", {**MAKERS[kind]().to_dict(), "schema_version": version}))
    assert f"schema version {version}, newer than this featvslearn reads" in message


# --------------------------------------------------------------------------- the JSON Schema file
def test_the_committed_json_schema_is_what_the_code_generates() -> None:
    committed = (ROOT / "docs" / "results.schema.json").read_text()
    regenerate = "python -m featvslearn.results --schema > docs/results.schema.json"
    assert committed == json_schema_text(), f"the schema changed; regenerate it: {regenerate}"


def test_the_schema_script_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--schema"])
    printed = capsys.readouterr().out
    assert printed == json_schema_text()
    schema = json.loads(printed)
    assert schema["discriminator"]["propertyName"] == "kind"
    for kind in ("CompareResults", "ScalingResults", "AblateResults"):
        assert schema["$defs"][kind]["properties"]["schema_version"]["const"] == SCHEMA_VERSION
        assert schema["$defs"][kind]["additionalProperties"] is False
    pipeline = schema["$defs"]["PipelineResult"]["properties"]
    assert {"other_load_percent_mean", "accuracy_interval", "correct"} <= set(pipeline)
    assert pipeline["accuracy"]["minimum"] == 0 and pipeline["accuracy"]["maximum"] == 1
