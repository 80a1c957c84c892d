"""RayExecutor on a real local Ray (two CPUs, started once for this module)."""

from __future__ import annotations

import os
import socket
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from featvslearn.errors import UserError
from featvslearn.executors import LocalExecutor, Resources, RunFailure, Task, make_executor

ray = pytest.importorskip("ray")

from featvslearn.executors.ray import RayExecutor, check_resources  # noqa: E402

# Ray workers cannot import this test module (tests/ is not on their path): send its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def local_ray() -> Any:
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def size_record(task: Task, shared: dict[str, Any]) -> dict[str, Any]:
    """A toy run: a record computed from the task and the shared data."""
    size = task.key["size"]
    return {"size": size, "total": sum(shared["values"][:size]), "name": shared["name"]}


def threads_record(task: Task, shared: Any) -> dict[str, Any]:
    import torch

    return {"threads": torch.get_num_threads()}


def attempts_record(task: Task, shared: dict[str, Any]) -> dict[str, Any]:
    """Counts its attempts in a file; fails the first ``fail_times`` of them."""
    log = Path(shared["folder"]) / f"{task.key['name']}.attempts"
    with log.open("a") as file:
        file.write("x")
    if len(log.read_text()) <= task.key["fail_times"]:
        raise ValueError(f"run {task.key['name']} failed\non attempt {len(log.read_text())}")
    return {"name": task.key["name"], "attempts": len(log.read_text())}


def first_quick_record(task: Task, shared: dict[str, Any]) -> dict[str, Any]:
    """The first run to start returns at once; every later one notes that it started, then sleeps 60 s."""
    folder = Path(shared["folder"])
    try:
        os.close(os.open(folder / "first", os.O_CREAT | os.O_EXCL))
        return {"first": True}
    except FileExistsError:
        (folder / f"started {task.label}").touch()
        time.sleep(60)
        return {"first": False}


def signal_record(task: Task, shared: dict[str, Any]) -> dict[str, Any]:
    """"waits" finishes only after "signals" has run (so they run side by side, one CPU each)."""
    signal = Path(shared["folder"]) / "signalled"
    if task.key["name"] == "signals":
        signal.touch()
    else:
        deadline = time.monotonic() + 60
        while not signal.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return {"name": task.key["name"]}


SHARED = {"values": list(range(100)), "name": "digits"}
SIZES = [Task({"size": size}, f"size {size}") for size in (5, 10, 50)]


def test_records_match_the_local_executor(local_ray: Any) -> None:
    with closing(RayExecutor()) as executor:
        by_ray = {task.label: record for task, record in executor.run(size_record, SIZES, SHARED)}
    by_local = {task.label: record for task, record in LocalExecutor().run(size_record, SIZES, SHARED)}
    assert by_ray == by_local
    assert executor.startup_seconds == 0.0  # the Ray already running was used
    assert ray.is_initialized()  # and left running


def test_make_executor_gives_a_ray_executor(local_ray: Any) -> None:
    executor = make_executor("ray", Resources(cpus_per_run=1))
    assert isinstance(executor, RayExecutor) and executor.name == "ray"
    executor.close()


def test_the_shared_object_is_put_once(local_ray: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    puts: list[Any] = []
    real_put = ray.put

    def counting_put(value: Any, **kwargs: Any) -> Any:
        puts.append(value)
        return real_put(value, **kwargs)

    monkeypatch.setattr(ray, "put", counting_put)
    records = [record for _, record in RayExecutor().run(size_record, SIZES, SHARED)]
    assert puts == [SHARED]
    assert all(record["name"] == "digits" for record in records)


def test_torch_uses_the_cpus_the_run_was_given(local_ray: Any) -> None:
    tasks = [Task({"index": index}, f"run {index}") for index in range(2)]
    default = [record for _, record in RayExecutor().run(threads_record, tasks, None)]
    one = [record for _, record in RayExecutor(Resources(cpus_per_run=1)).run(threads_record, tasks, None)]
    capped = [record for _, record in RayExecutor(Resources(cpus_per_run=64)).run(threads_record, tasks, None)]
    assert default == [{"threads": 2}] * 2  # all of the node's CPUs
    assert one == [{"threads": 1}] * 2
    assert capped == [{"threads": 2}] * 2  # never more than a node has


def test_a_run_failing_twice_is_a_run_failure_and_the_others_go_on(local_ray: Any, tmp_path: Path) -> None:
    tasks = [
        Task({"name": "bad", "fail_times": 99}, "bad"),
        Task({"name": "good", "fail_times": 0}, "good"),
        Task({"name": "flaky", "fail_times": 1}, "flaky"),
    ]
    shared = {"folder": str(tmp_path)}
    outcomes = {task.label: outcome for task, outcome in RayExecutor().run(attempts_record, tasks, shared)}
    failure = outcomes["bad"]
    assert isinstance(failure, RunFailure) and failure.task == tasks[0]
    assert failure.error == "ValueError: run bad failed on attempt 2"
    assert "\n" not in failure.error
    assert (tmp_path / "bad.attempts").read_text() == "xx"  # tried, then retried once
    assert outcomes["good"] == {"name": "good", "attempts": 1}
    assert outcomes["flaky"] == {"name": "flaky", "attempts": 2}  # the retry succeeded


def test_outcomes_come_in_finishing_order(local_ray: Any, tmp_path: Path) -> None:
    tasks = [Task({"name": "waits"}, "waits"), Task({"name": "signals"}, "signals")]
    outcomes = RayExecutor(Resources(cpus_per_run=1)).run(signal_record, tasks, {"folder": str(tmp_path)})
    assert [task.label for task, _ in outcomes] == ["signals", "waits"]


@pytest.fixture
def cancelled(local_ray: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The references ray.cancel is called with (it still cancels them)."""
    refs: list[Any] = []
    real_cancel = ray.cancel

    def recording_cancel(ref: Any, **kwargs: Any) -> None:
        refs.append(ref)
        real_cancel(ref, **kwargs)

    monkeypatch.setattr(ray, "cancel", recording_cancel)
    return refs


def assert_cancelled(refs: list[Any]) -> None:
    for ref in refs:
        with pytest.raises(ray.exceptions.RayError) as raised:
            ray.get(ref, timeout=30)
        assert not isinstance(raised.value, ray.exceptions.GetTimeoutError)


THREE_RUNS = [Task({"index": index}, f"run {index}") for index in range(3)]


def one_quick_then_slow(executor: RayExecutor, tasks: list[Task], folder: Path) -> Any:
    """The outcomes of ``tasks`` (see :func:`first_quick_record`), once the first has come back and a
    second run has started (two CPUs a run: one runs, the others wait)."""
    outcomes = executor.run(first_quick_record, tasks, {"folder": str(folder)})
    assert next(outcomes)[1] == {"first": True}
    deadline = time.monotonic() + 30
    while not list(folder.glob("started *")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return outcomes


def test_closing_the_generator_early_cancels_the_rest(cancelled: list[Any], tmp_path: Path) -> None:
    outcomes = one_quick_then_slow(RayExecutor(), THREE_RUNS, tmp_path)
    start = time.perf_counter()
    outcomes.close()
    assert len(cancelled) == 2  # the run going, and the one waiting for CPUs
    assert_cancelled(cancelled)
    assert time.perf_counter() - start < 30


def test_an_interrupt_cancels_the_rest(cancelled: list[Any], tmp_path: Path) -> None:
    outcomes = one_quick_then_slow(RayExecutor(), THREE_RUNS, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        outcomes.throw(KeyboardInterrupt())
    assert len(cancelled) == 2
    assert_cancelled(cancelled)


def test_close_cancels_runs_still_outstanding(cancelled: list[Any], tmp_path: Path) -> None:
    executor = RayExecutor()
    outcomes = one_quick_then_slow(executor, THREE_RUNS[:2], tmp_path)
    executor.close()
    assert len(cancelled) == 1
    assert_cancelled(cancelled)
    outcomes.close()
    assert ray.is_initialized()  # a Ray it did not start is left running


def test_a_gpu_run_on_a_cluster_without_gpus_is_a_user_error(local_ray: Any) -> None:
    tasks = [Task({"size": 5}, "size 5", uses_gpu=True)]
    with pytest.raises(UserError, match="no GPU in the Ray cluster"):
        RayExecutor().run(size_record, tasks, SHARED)


@pytest.mark.parametrize(("cpus_per_run", "gpus_per_run", "expected_cpus"), [
    (None, 0.25, 4.0),  # four runs share the GPU and the node's 16 CPUs
    (None, 1.0, 16.0),
    (2.0, 0.25, 2.0),  # --cpus-per-run wins
])
def test_gpu_runs_share_the_nodes_cpus_in_proportion(local_ray: Any, monkeypatch: pytest.MonkeyPatch,
                                                    cpus_per_run: float | None, gpus_per_run: float,
                                                    expected_cpus: float) -> None:
    executor = RayExecutor(Resources(cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run))
    monkeypatch.setattr(executor, "_largest_node", lambda resource: {"CPU": 16.0, "GPU": 1.0}[resource])
    tasks = [Task({"size": 5}, "size 5", uses_gpu=True)]
    assert executor._task_resources(tasks) == (expected_cpus, gpus_per_run)
    assert executor._task_resources([Task({"size": 5}, "size 5")])[0] == (cpus_per_run or 16.0)


@pytest.mark.parametrize("gpus", [0, -1, 1.5, float("nan"), float("inf")])
def test_bad_gpus_per_run_is_a_user_error(gpus: float) -> None:
    with pytest.raises(UserError, match="--gpus-per-run"):
        check_resources(Resources(gpus_per_run=gpus))
    with pytest.raises(UserError, match="--gpus-per-run"):
        RayExecutor(Resources(gpus_per_run=gpus))


@pytest.mark.parametrize("gpus", [0.25, 0.5, 1, 2])
def test_good_gpus_per_run(gpus: float) -> None:
    check_resources(Resources(gpus_per_run=gpus))


def test_bad_cpus_per_run_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--cpus-per-run"):
        check_resources(Resources(cpus_per_run=0))


def test_missing_ray_is_a_user_error_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError) as raised:
        make_executor("ray")
    assert str(raised.value) == "--executor ray needs Ray: pip install 'featvslearn[ray]'"


@pytest.fixture
def listening_address() -> Any:
    """A ``host:port`` where something accepts TCP connections (but is no Ray)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"127.0.0.1:{server.getsockname()[1]}"


def closed_address() -> str:
    """A ``host:port`` on this machine where nothing listens."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    return f"127.0.0.1:{port}"


def not_initialised(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Make RayExecutor believe no Ray runs in this process; record what it passes to ray.init."""
    seen: dict[str, Any] = {}

    def init(**kwargs: Any) -> None:
        seen.update(kwargs)
        if "refuse" in seen:
            raise ConnectionError(f"Could not find any running Ray instance at {kwargs['address']}.\nPlease check.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: seen.update(shutdown=True))
    return seen


def test_an_address_where_nothing_listens_is_a_user_error_at_once(
    local_ray: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = not_initialised(monkeypatch)
    address = closed_address()
    start = time.perf_counter()
    with pytest.raises(UserError) as raised:
        RayExecutor(address=address)
    assert time.perf_counter() - start < 5
    message = str(raised.value)
    assert "\n" not in message
    assert address in message and "--ray-address" in message and "RAY_ADDRESS" in message
    assert seen == {}  # Ray was not asked to keep retrying it


def test_a_cluster_ray_cannot_join_is_a_user_error(
    local_ray: Any, monkeypatch: pytest.MonkeyPatch, listening_address: str
) -> None:
    seen = not_initialised(monkeypatch)
    seen["refuse"] = True
    with pytest.raises(UserError) as raised:
        RayExecutor(address=listening_address)
    message = str(raised.value)
    assert "\n" not in message and "Could not find any running Ray instance" in message
    assert listening_address in message and "--ray-address" in message


def test_ray_address_comes_from_the_environment(
    local_ray: Any, monkeypatch: pytest.MonkeyPatch, listening_address: str
) -> None:
    seen = not_initialised(monkeypatch)
    monkeypatch.setenv("RAY_ADDRESS", listening_address)
    executor = RayExecutor()
    assert seen["address"] == listening_address and "num_cpus" not in seen
    assert seen["include_dashboard"] is False
    executor.close()
    assert seen["shutdown"] is True  # it joined the cluster, so it lets go of it


def test_without_an_address_ray_starts_on_this_machine(local_ray: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = not_initialised(monkeypatch)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr("featvslearn.executors.ray._local_gpus", lambda: 3)
    executor = RayExecutor()
    assert seen["address"] == "local"
    assert seen["num_cpus"] == os.cpu_count() and seen["num_gpus"] == 3
    assert seen["include_dashboard"] is False and seen["ignore_reinit_error"] is True
    assert executor.startup_seconds >= 0
    executor.close()
    assert seen["shutdown"] is True


# --------------------------------------------------------------------------- real sweeps on Ray
def test_a_digits_scaling_sweep_on_ray_gives_the_local_accuracies(local_ray: Any) -> None:
    from featvslearn.experiments.config import ScalingConfig
    from featvslearn.experiments.scaling import run_scaling

    config = ScalingConfig(device="cpu", pipelines=("hog-svm", "cnn"), sizes=(30, 60), seeds=2, epochs=1,
                           test_size=100).validated()
    with closing(RayExecutor()) as executor:
        by_ray = run_scaling(config, executor=executor)
    local = run_scaling(config)
    assert {name: [(r.train_size, r.seed, r.accuracy) for r in runs] for name, runs in by_ray.pipelines.items()} == \
        {name: [(r.train_size, r.seed, r.accuracy) for r in runs] for name, runs in local.pipelines.items()}
    assert by_ray.settings["executor"] == "ray" and local.settings["executor"] == "local"
    assert by_ray.crossover == local.crossover


def test_a_digits_ablation_on_ray_gives_the_local_accuracies(local_ray: Any) -> None:
    from featvslearn.experiments.ablation import run_ablation
    from featvslearn.experiments.config import AblateConfig

    config = AblateConfig(device="cpu", variants=("relu-bn", "tanh-plain"), train_size=60, test_size=40,
                          epochs=1).validated()
    with closing(RayExecutor()) as executor:
        by_ray = run_ablation(config, executor=executor)
    local = run_ablation(config)
    assert [(v.name, v.accuracy, v.loss_per_epoch) for v in by_ray.variants] == \
        [(v.name, v.accuracy, v.loss_per_epoch) for v in local.variants]
