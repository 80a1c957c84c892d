"""Sweeps as runs: executors, the run log, --resume, failed runs and what Ctrl-C keeps, on tiny digits sweeps."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.cli.progress import _live_progress
from featvslearn.executors import LocalExecutor, RunFailure, Task
from featvslearn.experiments import ablation, scaling
from featvslearn.experiments.ablation import run_ablation
from featvslearn.experiments.config import AblateConfig, ScalingConfig
from featvslearn.experiments.runlog import RunLog, log_path, previous_path, read_lines
from featvslearn.experiments.scaling import run_scaling
from featvslearn.measure import Monitor
from featvslearn.pipelines import PIPELINES, RunContext
from featvslearn.progress import no_progress
from featvslearn.reports import markdown, warnings
from featvslearn.results import AblateResults, ScalingResults, read_json, write_json
from tests.test_cli import assert_user_error
from tests.test_cli_progress import Clock, frame, recording_console, row

runner = CliRunner()

CONFIG = ScalingConfig(device="cpu", pipelines=("hog-svm", "cnn"), sizes=(30, 60), seeds=2, epochs=1,
                       test_size=100).validated()
"""Four runs (two sizes × two seeds), each training hog-svm and a one-epoch CNN on a few digits."""
TINY = ["--dataset", "digits", "--device", "cpu", "--sizes", "30,60", "--seeds", "2", "--epochs", "1",
        "--test-size", "100"]
"""CONFIG on the command line."""
ABLATE = AblateConfig(device="cpu", variants=("relu-bn", "sigmoid-plain", "tanh-plain"), train_size=60,
                      test_size=40, epochs=1).validated()


def accuracies(results: ScalingResults) -> dict[str, list[tuple[int, int, float]]]:
    return {name: [(r.train_size, r.seed, r.accuracy) for r in runs] for name, runs in results.pipelines.items()}


@pytest.fixture(scope="module")
def plain() -> ScalingResults:
    """CONFIG run as ``scaling`` always ran it: no executor given, no run log."""
    return run_scaling(CONFIG)


class Recording:
    """Runs the tasks here, in plan order or reversed, noting each; raises Ctrl-C before run ``stop_at``,
    and reports the runs of ``fail`` (labels) as failed instead of running them."""

    name = "recording"

    def __init__(self, reverse: bool = False, stop_at: int | None = None, fail: Iterable[str] = ()) -> None:
        self.reverse, self.stop_at, self.fail = reverse, stop_at, set(fail)
        self.ran: list[str] = []

    def run(self, work: Any, tasks: Iterable[Task], shared: Any) -> Iterator[tuple[Task, Any]]:
        for index, task in enumerate(reversed(list(tasks)) if self.reverse else tasks):
            if index == self.stop_at:
                raise KeyboardInterrupt
            if task.label in self.fail:
                yield task, RunFailure(task, "CUDA error: an illegal memory access was encountered\n(on the worker)")
                continue
            self.ran.append(task.label)
            yield task, work(task, shared)

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ executors


def test_the_local_executor_and_any_finishing_order_give_the_plain_results(plain: ScalingResults,
                                                                           tmp_path: Path) -> None:
    local = run_scaling(CONFIG, executor=LocalExecutor(), log=RunLog(tmp_path / "local.runs.jsonl"))
    backwards = Recording(reverse=True)
    reversed_order = run_scaling(CONFIG, executor=backwards)
    assert backwards.ran == ["size 60, seed 1", "size 60, seed 0", "size 30, seed 1", "size 30, seed 0"]
    assert accuracies(local) == accuracies(reversed_order) == accuracies(plain)
    assert [(r.train_size, r.seed) for r in plain.pipelines["cnn"]] == [(30, 0), (30, 1), (60, 0), (60, 1)]
    assert local.crossover == plain.crossover and "failed_runs" not in local.settings


def test_the_shared_data_pickles_without_its_callbacks(plain: ScalingResults) -> None:
    split = scaling.load_data(CONFIG)[0]
    seen: list[str] = []
    shared = scaling.ScalingShared(full=split, config=CONFIG, device="cpu",
                                   progress=lambda key, *args: seen.append(key),
                                   on_step=lambda *args: seen.append("step"))
    copy = pickle.loads(pickle.dumps(shared))
    assert copy.progress is no_progress and copy.on_step is None and copy.config == CONFIG
    assert (copy.full.train.images == split.train.images).all()
    assert shared.on_step is not None  # the original keeps them
    record = scaling.work(Task({"size": 30, "seed": 1}, "size 30, seed 1"), copy)
    assert seen == []  # a worker elsewhere reports nothing
    assert {name: run.accuracy for name, run in record.items()} == \
        {name: next(r.accuracy for r in runs if (r.train_size, r.seed) == (30, 1))
         for name, runs in plain.pipelines.items()}
    logged = json.loads(json.dumps(scaling.encode_record(record), allow_nan=False))  # as the run log holds it
    assert scaling.read_record(logged, CONFIG.pipelines) == record


# ------------------------------------------------------------------ the run log


def test_the_log_has_one_line_per_finished_run(tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    run_scaling(CONFIG, log=RunLog(path))
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    entries = [json.loads(line) for line in lines]
    assert [e["run"] for e in entries] == [{"size": 30, "seed": 0}, {"size": 30, "seed": 1}, {"size": 60, "seed": 0},
                                           {"size": 60, "seed": 1}]
    sweep = entries[0]["sweep"]
    assert all(e["sweep"] == sweep for e in entries)
    assert sweep["kind"] == "scaling" and sweep["dataset"] == "digits" and sweep["epochs"] == 1
    assert sweep["pipelines"] == ["hog-svm", "cnn"] and sweep["device"] == "cpu" and sweep["test_size"] == 100
    assert set(entries[0]["record"]) == {"hog-svm", "cnn"}


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_line(plain: ScalingResults, tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    interrupted = Recording(stop_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_scaling(CONFIG, executor=interrupted, log=RunLog(path))
    whole = path.read_text()
    path.write_text(whole + whole.splitlines()[0][:57])  # a line cut short as it was written
    assert len(read_lines(path)) == 2
    again = Recording()
    resumed = run_scaling(CONFIG, executor=again, log=RunLog(path, resume=True))
    assert again.ran == ["size 60, seed 0", "size 60, seed 1"]
    assert len(read_lines(path)) == 4 and path.read_text().startswith(whole)
    assert accuracies(resumed) == accuracies(plain)


def test_a_damaged_line_before_the_last_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    path.write_text('{"sweep": {}, "run": {}, "record": {}}\nnot json\n{"sweep": {}, "run": {}, "record": {}}\n')
    with pytest.raises(Exception, match="line 2 is not JSON"):
        read_lines(path)


def test_resume_runs_only_the_missing_runs_and_gives_the_uninterrupted_results(plain: ScalingResults,
                                                                              tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_scaling(CONFIG, executor=Recording(stop_at=1), log=RunLog(path))
    assert len(read_lines(path)) == 1
    seen: dict[str, tuple[float, float | None]] = {}
    again = Recording()
    log = RunLog(path, resume=True)
    resumed = run_scaling(CONFIG, executor=again, log=log,
                          progress=lambda key, text, done, total: seen.setdefault(f"{key}:{done}", (done, total)))
    assert again.ran == ["size 30, seed 1", "size 60, seed 0", "size 60, seed 1"]
    assert (log.resumed, log.appended, log.kept) == (1, 3, 4)
    assert seen["scaling:2"] == (2, 8)  # the resumed run's two pipelines count as done from the start
    assert "scaling:0" not in seen
    assert accuracies(resumed) == accuracies(plain) and resumed.crossover == plain.crossover
    nothing_left = Recording()
    assert accuracies(run_scaling(CONFIG, executor=nothing_left, log=RunLog(path, resume=True))) == accuracies(plain)
    assert nothing_left.ran == []


def test_a_log_of_another_sweep_is_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    other = dataclasses.replace(CONFIG, sizes=(30,), seeds=1, epochs=2)
    run_scaling(other, log=RunLog(path))
    again = Recording()
    with pytest.warns(UserWarning, match=r"1 run\(s\) of a sweep with other settings \(epochs 2, not 1\)"):
        run_scaling(CONFIG, executor=again, log=RunLog(path, resume=True))
    assert len(again.ran) == 4
    assert len(read_lines(path)) == 5  # the other sweep's line stays, beside this sweep's


def test_without_resume_an_earlier_log_is_moved_aside_when_the_first_run_finishes(tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    path.write_text("earlier\n")
    log = RunLog(path)
    with pytest.raises(KeyboardInterrupt):
        run_scaling(CONFIG, executor=Recording(stop_at=0), log=log)
    assert path.read_text() == "earlier\n"  # nothing finished: the earlier log is as it was
    with pytest.raises(KeyboardInterrupt):
        run_scaling(CONFIG, executor=Recording(stop_at=1), log=log)
    assert log.moved_to == previous_path(path) == tmp_path / "scaling.runs.previous.jsonl"
    assert log.moved_to.read_text() == "earlier\n" and len(read_lines(path)) == 1


def test_ablate_resumes_by_variant(tmp_path: Path) -> None:
    path = tmp_path / "ablate.runs.jsonl"
    first = run_ablation(dataclasses.replace(ABLATE, variants=("tanh-plain", "relu-bn")), log=RunLog(path))
    again = Recording()
    resumed = run_ablation(ABLATE, executor=again, log=RunLog(path, resume=True))
    assert again.ran == ["sigmoid-plain"]
    assert [v.name for v in resumed.variants] == ["relu-bn", "sigmoid-plain", "tanh-plain"]  # plan order
    reused = {v.name: v for v in first.variants}
    for variant in resumed.variants:
        if variant.name in reused:
            assert variant == reused[variant.name]  # read back from the log, whole
    assert [v.accuracy for v in resumed.variants] == [v.accuracy for v in run_ablation(ABLATE).variants]


# ------------------------------------------------------------------ failed runs


def test_a_failed_run_is_recorded_and_warned_of_while_the_others_complete(plain: ScalingResults,
                                                                         tmp_path: Path) -> None:
    path = tmp_path / "scaling.runs.jsonl"
    failing = Recording(fail={"size 60, seed 1"})
    results = run_scaling(CONFIG, executor=failing, log=RunLog(path))
    assert failing.ran == ["size 30, seed 0", "size 30, seed 1", "size 60, seed 0"]
    assert results.settings["failed_runs"] == [{"run": {"size": 60, "seed": 1}, "label": "size 60, seed 1",
                                                "error": "CUDA error: an illegal memory access was encountered\n"
                                                         "(on the worker)"}]
    assert {name: [(r.train_size, r.seed) for r in runs] for name, runs in results.pipelines.items()} == \
        {name: [(30, 0), (30, 1), (60, 0)] for name in ("hog-svm", "cnn")}
    assert results.sizes == [30, 60]
    lines = [w for w in warnings(results) if "failed" in w]
    assert len(lines) == 1 and "1 run failed" in lines[0] and "size 60, seed 1 (CUDA error" in lines[0]
    assert "--resume" in lines[0]
    write_json(results, tmp_path / "scaling.json")
    again = read_json(tmp_path / "scaling.json")  # a file with a failed run reads back
    assert accuracies(again) == accuracies(results)
    assert "| 60 | 1 | failed |" in markdown(again)
    assert len(read_lines(path)) == 3  # not logged: --resume tries it again
    retry = Recording()
    completed = run_scaling(CONFIG, executor=retry, log=RunLog(path, resume=True))
    assert retry.ran == ["size 60, seed 1"] and accuracies(completed) == accuracies(plain)
    assert "failed_runs" not in completed.settings


def test_a_size_whose_every_run_failed_is_left_out_and_every_run_failing_is_a_user_error() -> None:
    results = run_scaling(CONFIG, executor=Recording(fail={"size 60, seed 0", "size 60, seed 1"}))
    assert results.sizes == [30] and len(results.settings["failed_runs"]) == 2
    assert ScalingResults.from_dict(results.to_dict()).sizes == [30]
    with pytest.raises(Exception, match="every run failed; the first, size 30, seed 0: CUDA error"):
        run_scaling(CONFIG, executor=Recording(fail={f"size {s}, seed {d}" for s in (30, 60) for d in (0, 1)}))


def test_a_failed_variant_is_left_out_and_warned_of() -> None:
    results = run_ablation(ABLATE, executor=Recording(fail={"sigmoid-plain"}))
    assert [v.name for v in results.variants] == ["relu-bn", "tanh-plain"]
    assert results.settings["failed_runs"][0]["label"] == "sigmoid-plain"
    assert any("1 run failed" in w and "sigmoid-plain (CUDA error" in w for w in warnings(results))
    assert AblateResults.from_dict(results.to_dict()).settings["failed_runs"] == results.settings["failed_runs"]


# ------------------------------------------------------------------ the command line


def interrupt_cnn_at(monkeypatch: pytest.MonkeyPatch, run: int) -> None:
    """Ctrl-C when the CNN's measured run number ``run`` (from 0) starts."""
    real, started = PIPELINES["cnn"].run, []

    def cnn(context: RunContext) -> Any:
        if isinstance(context.monitor, Monitor):
            if len(started) == run:
                raise KeyboardInterrupt
            started.append(1)
        return real(context)

    monkeypatch.setitem(PIPELINES, "cnn", dataclasses.replace(PIPELINES["cnn"], run=cnn))


def test_ctrl_c_names_the_log_and_resume_then_resume_finishes(plain: ScalingResults, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "scaling.json"
    log = tmp_path / "scaling.runs.jsonl"
    with monkeypatch.context() as patch:
        interrupt_cnn_at(patch, 2)
        result = runner.invoke(app, ["scaling", *TINY, "--json", str(out)])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    assert f"runs are logged to {log}; after an interruption, add --resume" in " ".join(result.stderr.split())
    last = " ".join(result.stderr.split()).rsplit("interrupted: ", 1)[1]
    assert last == f"4 finished runs are kept in {log}; run the same command with --resume to go on"
    assert not out.exists() and len(read_lines(log)) == 2
    result = runner.invoke(app, ["scaling", *TINY, "--json", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert "the runs it already holds are reused" in result.stderr
    assert accuracies(read_json(out)) == accuracies(plain)  # type: ignore[arg-type]
    assert len(read_lines(log)) == 4


def test_ctrl_c_before_any_run_finished_keeps_the_plain_message(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_cnn_at(monkeypatch, 0)
    result = runner.invoke(app, ["scaling", *TINY, "--json", str(tmp_path / "scaling.json")])
    assert result.exit_code == 130
    assert "interrupted: stopped cleanly, no output file was written" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_json_the_default_log_is_announced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["ablate", "--dataset", "digits", "--device", "cpu", "--variants", "relu-bn",
                                 "--train-size", "60", "--test-size", "40", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    expected = log_path("ablate", "digits")
    assert expected == Path("featvslearn-ablate-digits.runs.jsonl")
    assert f"runs are logged to {expected}; after an interruption, add --resume" in result.stderr
    assert result.stderr.index("runs are logged") < result.stderr.index("ablate:")  # before the work starts
    assert len(read_lines(tmp_path / expected)) == 1
    result = runner.invoke(app, ["ablate", "--dataset", "digits", "--device", "cpu", "--variants", "relu-bn",
                                 "--train-size", "60", "--test-size", "40", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "holds the runs of an earlier sweep; this one starts afresh" in " ".join(result.stderr.split())
    assert (tmp_path / "featvslearn-ablate-digits.runs.previous.jsonl").is_file()


def test_log_paths() -> None:
    assert log_path("scaling", "digits", Path("results/scaling.json")) == Path("results/scaling.runs.jsonl")
    assert log_path("ablate", "fashion-mnist") == Path("featvslearn-ablate-fashion-mnist.runs.jsonl")
    assert log_path("scaling", "data/my images/", folder=Path("out")) == Path(
        "out/featvslearn-scaling-my-images.runs.jsonl")


def test_a_failed_run_is_a_warning_line_in_the_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("featvslearn.cli.sweeps.make_executor",
                        lambda name, resources, address: Recording(fail={"sigmoid-plain"}))
    result = runner.invoke(app, ["ablate", "--dataset", "digits", "--device", "cpu", "--variants",
                                 "relu-bn,sigmoid-plain", "--train-size", "60", "--test-size", "40", "--epochs", "1",
                                 "--json", str(tmp_path / "ablate.json")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stderr.split())
    assert "warning: 1 run failed and is left out of the figures: sigmoid-plain (CUDA error" in text
    assert read_json(tmp_path / "ablate.json").settings["failed_runs"][0]["label"] == "sigmoid-plain"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--executor", "spark"], "--executor 'spark' is not known"),
        (["--executor", "ray", "--gpus-per-run", "1.5"], "--gpus-per-run must be a share of one GPU"),
        (["--executor", "ray", "--gpus-per-run", "0"], "--gpus-per-run must be"),
        (["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run must be"),
        (["--gpus-per-run", "0.5"], "--gpus-per-run is for runs on Ray; add --executor ray"),
        (["--ray-address", "ray://head:10001"], "--ray-address is for runs on Ray"),
    ],
    ids=["executor", "gpus-above-one", "gpus-zero", "cpus-zero", "gpus-local", "address-local"],
)
def test_bad_sweep_options_are_one_line_and_exit_code_2(args: list[str], fragment: str, tmp_path: Path) -> None:
    for command in ("scaling", "ablate"):
        result = runner.invoke(app, [command, "--device", "cpu", *args, "--json", str(tmp_path / "r.json")])
        assert_user_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


def test_sweep_options_reach_the_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, Any, Any]] = []

    def make(name: str, resources: Any, address: Any) -> Recording:
        made.append((name, resources, address))
        return Recording()

    monkeypatch.setattr("featvslearn.cli.sweeps.make_executor", make)
    result = runner.invoke(app, ["ablate", "--dataset", "digits", "--device", "cpu", "--variants", "relu-bn",
                                 "--train-size", "60", "--test-size", "40", "--epochs", "1", "--executor", "ray",
                                 "--gpus-per-run", "0.25", "--cpus-per-run", "2", "--ray-address", "auto",
                                 "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    (name, resources, address), = made
    assert (name, resources.gpus_per_run, resources.cpus_per_run, address) == ("ray", 0.25, 2.0, "auto")
    assert ablation.work.__module__ == "featvslearn.experiments.ablation"  # a module-level function: it can travel


def test_the_time_left_averages_only_the_runs_done_in_this_session() -> None:
    clock = Clock()
    with _live_progress(console=recording_console(), get_time=clock) as display:
        display("scaling", "scaling: 6 of 8 runs finished before (in the run log)", 6, 8)
        assert "-:--:-- left" in row(frame(display), "scaling:")  # nothing timed yet
        clock.now += 60
        display("scaling", "scaling: 7 of 8 runs finished", 7, 8)
        assert "0:01:00 left" in row(frame(display), "scaling:")  # one run took 60 s: one more to go


def test_results_record_the_executor_and_its_start_up() -> None:
    from featvslearn.executors import LocalExecutor
    from featvslearn.experiments.sweep import executor_settings

    assert executor_settings(None) == {"executor": "local"}
    assert executor_settings(LocalExecutor()) == {"executor": "local"}

    class Started(LocalExecutor):
        startup_seconds = 3.30412

    started = Started()
    started.name = "ray"
    assert executor_settings(started) == {"executor": "ray", "executor_startup_seconds": 3.304}
