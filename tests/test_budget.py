"""compare's time budget: the default, each pipeline's choice within it, and how the report shows it."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from featvslearn import classical
from featvslearn.classical import svm_settings
from featvslearn.cli import app
from featvslearn.errors import UserError
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.learned.train import default_epochs
from featvslearn.pipelines.budget import Budget, epochs_within, strongest_within
from featvslearn.reports import lessons
from featvslearn.reports.compare import markdown
from featvslearn.reports.compare_table import table

SMALL = CompareConfig(dataset="digits", device="cpu", train_size=600, test_size=200, seed=1)


# ----------------------------------------------------------------------------- no budget: fixed recipes
def _spin(stop) -> None:  # a process that keeps one core busy
    while not stop.is_set():
        pass


def test_without_a_budget_the_recipes_and_results_are_the_same_on_a_busy_machine(monkeypatch, tmp_path) -> None:
    """Every choice is a fixed function of the data, device type and options: two processes spinning on
    the cores change the timings, never the SVM, the epochs or an accuracy; the slow-down is measured."""
    import multiprocessing

    from featvslearn.reports.compare import reading

    monkeypatch.setenv("FEATVSLEARN_CACHE", str(tmp_path))  # this machine's calibration, from the quiet run
    monkeypatch.setattr(svm_settings, "LARGE_SET_FROM", 100)
    monkeypatch.setattr(svm_settings, "RBF_LANDMARKS_WITHIN_BUDGET", (100, 30))
    config = dataclasses.replace(SMALL, pipelines=("hog-svm", "cnn"), train_size=900, epochs=2).validated()
    quiet = run_comparison(config)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    spinners = [context.Process(target=_spin, args=(stop,), daemon=True) for _ in range(2)]
    for spinner in spinners:
        spinner.start()
    try:
        busy = run_comparison(config)
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join(timeout=10)
    for a, b in zip(quiet.pipelines, busy.pipelines, strict=True):
        assert "budget" not in a.details and "budget" not in b.details
        assert a.accuracy == b.accuracy and a.correct == b.correct
    assert reading(busy).split(". ")[0] == reading(quiet).split(". ")[0]  # the same verdict
    hog, cnn = quiet.pipelines
    assert hog.details["svm_settings"]["kind"] == "rbf" and hog.details["svm_settings"]["n_components"] == 100
    assert hog.details["svm_choice"].startswith("the standard SVM for 900 training images")
    assert cnn.details["training"]["epochs"] == 2 == cnn.details["epochs_trained"]
    assert not {"choose epochs (budget probe)", "choose svm (budget probe)"} & {
        s.name for p in quiet.pipelines for s in p.stages}


def test_without_a_budget_the_cnn_trains_its_standard_epochs() -> None:
    cnn = run_comparison(dataclasses.replace(SMALL, pipelines=("cnn",)).validated()).pipelines[0]
    assert cnn.details["training"]["epochs"] == default_epochs(600, "cpu") == cnn.details["epochs_trained"]
    assert "budget" not in cnn.details and "choose epochs (budget probe)" not in {s.name for s in cnn.stages}


def test_learned_svm_fits_exactly_the_svm_hog_svm_chose_within_a_budget(monkeypatch) -> None:
    monkeypatch.setattr(svm_settings, "LARGE_SET_FROM", 100)
    monkeypatch.setattr(svm_settings, "RBF_LANDMARKS_WITHIN_BUDGET", (100, 30))
    config = dataclasses.replace(SMALL, pipelines=("learned-svm", "hog-svm"), train_size=900, epochs=2, budget=600.0)
    learned, hog = run_comparison(config.validated()).pipelines
    assert hog.details["budget"]["chosen"] == "rbf-100"
    assert learned.details["svm_settings"] == hog.details["svm_settings"]
    assert learned.details["svm_precision"] == hog.details["svm_precision"]
    assert learned.details["same_svm_as"].startswith("hog-svm: the SVM it chose in this run")
    alone = run_comparison(dataclasses.replace(config, pipelines=("learned-svm",)).validated()).pipelines[0]
    assert alone.details["svm_settings"]["kind"] == "rbf"  # hog-svm's rule, with its own probes
    assert alone.details["same_svm_as"].startswith("hog-svm's rule")


def test_within_a_budget_the_cnn_stops_after_the_epoch_that_runs_past_it(monkeypatch) -> None:
    from featvslearn.pipelines import cnn as cnn_pipeline

    monkeypatch.setattr(cnn_pipeline, "probe_cnn", lambda *args: (1e-6, 0.0))  # a probe far too hopeful
    config = dataclasses.replace(SMALL, pipelines=("cnn",), budget=0.05)
    cnn = run_comparison(config.validated()).pipelines[0]
    planned, trained = cnn.details["training"]["epochs"], cnn.details["epochs_trained"]
    assert planned == default_epochs(600, "cpu") and 1 <= trained < planned
    assert len(cnn.details["loss_per_epoch"]) == trained
    assert cnn.details["budget"]["chosen"] == (f"{trained} epochs" if trained > 1 else "1 epoch")
    reason = cnn.details["budget"]["reason"]
    assert f"stopped after {cnn.details['budget']['chosen']} of {planned}, as one more would have run past" in reason
    assert "s an epoch measured, 0.00 s estimated by the probe" in reason


def test_a_probe_that_missed_the_pace_is_named_in_the_reason(monkeypatch) -> None:
    from featvslearn.pipelines import cnn as cnn_pipeline

    monkeypatch.setattr(cnn_pipeline, "probe_cnn", lambda *args: (50.0, 0.0))  # far too gloomy: 50 s an epoch
    config = dataclasses.replace(SMALL, pipelines=("cnn",), budget=60)
    cnn = run_comparison(config.validated()).pipelines[0]
    assert cnn.details["epochs_trained"] == 1 == cnn.details["training"]["epochs"]
    assert "the probe missed the pace (" in cnn.details["budget"]["reason"]
    assert "s an epoch measured, 50 s estimated by the probe)" in cnn.details["budget"]["reason"]


def _probe_steps(monkeypatch, slow_step: int | None = None) -> list[int]:
    """Steps of each train_cnn call in a run, with ``slow_step`` of the probe 0.4 s slow. The probe is the
    second call: the run's warm-up on a small slice comes first, the real training last."""
    import time

    from featvslearn.learned import train

    calls: list[int] = []
    real = train.train_cnn

    def counted(*args, on_step=None, **kwargs):
        calls.append(0)

        def step(epoch: int, done: int, total: int) -> None:
            calls[-1] += 1
            if len(calls) == 2 and calls[-1] == slow_step:
                time.sleep(0.4)
            if on_step is not None:
                on_step(epoch, done, total)

        return real(*args, on_step=step, **kwargs)

    monkeypatch.setattr(train, "train_cnn", counted)
    return calls


def test_the_cnn_probe_stops_timing_steps_at_its_share_of_the_budget(monkeypatch) -> None:
    from featvslearn.pipelines import cnn as cnn_pipeline

    calls = _probe_steps(monkeypatch)
    config = dataclasses.replace(SMALL, pipelines=("cnn",), train_size=1200, budget=1e-3)
    run_comparison(config.validated())
    assert calls[1] == cnn_pipeline.BUDGET_PROBE_MIN_STEPS + 1  # one untimed step, then the fewest timed
    calls.clear()
    run_comparison(dataclasses.replace(config, budget=600.0).validated())
    assert calls[1] == cnn_pipeline.BUDGET_PROBE_STEPS + 1


def test_one_slow_step_does_not_decide_the_cnn_probe(monkeypatch) -> None:
    """The probe takes the median step: a 0.4 s stall in one of its 10 timed steps would add 0.04 s to
    each step's mean, and so 0.04 s x the epoch's steps to the estimate."""
    _probe_steps(monkeypatch, slow_step=5)
    config = dataclasses.replace(SMALL, pipelines=("cnn",), train_size=1200, budget=600.0)
    cnn = run_comparison(config.validated()).pipelines[0]
    steps_per_epoch = 1200 // cnn.details["training"]["batch_size"]
    estimate = float(cnn.details["budget"]["reason"].split("(")[1].split(" s an epoch")[0])
    assert estimate < 0.04 * steps_per_epoch


# ----------------------------------------------------------------------------- choosing
def test_the_strongest_configuration_that_fits_is_chosen_and_probing_stops_at_the_first_that_does_not() -> None:
    probed: list[str] = []
    costs = {"huge": 500.0, "big": 90.0, "medium": 40.0, "small": 5.0}

    def estimate(option: str) -> float:
        probed.append(option)
        return costs[option]

    chosen, choice = strongest_within(Budget(60.0, "--budget"), ["huge", "big", "medium", "small"], str, estimate,
                                      lambda: 10.0)
    assert chosen == "medium"
    assert probed == ["small", "medium", "big"]  # the quickest first; "huge" costs more than "big" still
    assert choice.estimates == {"small": 15.0, "medium": 50.0, "big": 100.0}
    assert "50 s of the 60 s budget" in choice.reason and "big was estimated at 100 s" in choice.reason


def test_an_option_bounded_out_of_the_budget_by_a_weaker_probe_is_not_probed() -> None:
    probed: list[str] = []

    def estimate(option: str) -> float:
        probed.append(option)
        return {"big": 45.0, "small": 20.0}[option]

    chosen, choice = strongest_within(Budget(50.0, "--budget"), ["big", "small"], str, estimate, lambda: 0.0,
                                      at_least=lambda option, weaker, rest: 3 * rest)
    assert chosen == "small" and probed == ["small"]
    assert "big was not probed: the probe of small puts it at 60 s or more" in choice.reason


def test_a_configuration_that_fitted_before_later_probes_were_paid_for_is_dropped() -> None:
    clock = {"spent": 0.0}

    def estimate(option: str) -> float:
        clock["spent"] += {"big": 30.0, "small": 1.0}[option]  # probing big takes long, and big does not fit
        return {"big": 80.0, "small": 25.0}[option]

    chosen, choice = strongest_within(Budget(50.0, "--budget"), ["big", "small"], str, estimate,
                                      lambda: clock["spent"])
    assert chosen == "small"  # 31 s spent + 25 s: over; the quickest is taken, and the reason says so
    assert "none fits the 50 s budget" in choice.reason


def test_the_cnn_keeps_its_standard_epochs_when_they_fit_and_trains_fewer_when_not() -> None:
    budget = Budget(100.0, "--budget")
    assert epochs_within(budget, 7, epoch_seconds=10.0, spent=5.0, rest=2.0)[0] == 7
    epochs, choice = epochs_within(budget, 12, epoch_seconds=10.0, spent=5.0, rest=2.0)
    assert epochs == 9  # 5 + 9 x 10 + 2 = 97 s
    assert choice.chosen == "9 epochs" and "over the 100 s budget" in choice.reason
    epochs, choice = epochs_within(Budget(1.0, "--budget"), 12, epoch_seconds=10.0, spent=0.5, rest=0.1)
    assert epochs == 1 and "even one epoch is over the budget" in choice.reason
    assert choice.chosen == "1 epoch" and "1 epoch was estimated" in choice.reason


def test_below_twenty_thousand_images_the_linear_svm_is_the_only_choice_and_above_the_rbf_comes_first() -> None:
    assert [classical.svm_name(s) for s in classical.svm_candidates(1_437)] == ["linear"]
    assert [classical.svm_name(s) for s in classical.svm_candidates(60_000)] == [
        "rbf-6000", "rbf-4000", "rbf-2000", "linear"]
    assert [classical.svm_name(s) for s in classical.svm_candidates(20_000)] == ["rbf-2000", "linear"]


# ----------------------------------------------------------------------------- in a comparison
@pytest.fixture(scope="module")
def tight():
    """The default pipelines under a budget far too small for the CNN's standard schedule."""
    return run_comparison(dataclasses.replace(SMALL, budget=0.5).validated())


def test_a_tight_budget_cuts_the_cnn_epochs_after_a_measured_probe_stage(tight) -> None:
    hog, cnn = tight.pipelines
    standard = default_epochs(600, "cpu")
    choice = cnn.details["budget"]
    assert choice["budget_seconds"] == 0.5 and choice["budget_source"] == "--budget"
    assert cnn.details["training"]["epochs"] < standard
    # the epochs trained: the planned ones, or fewer when training ran slower than its probe and stopped
    epochs = cnn.details["epochs_trained"]
    assert 1 <= epochs <= cnn.details["training"]["epochs"]
    assert choice["chosen"] == (f"{epochs} epochs" if epochs > 1 else "1 epoch")
    assert ("stopped after" in choice["reason"]) == (epochs < cnn.details["training"]["epochs"])
    assert "choose epochs (budget probe)" in {s.name for s in cnn.stages}
    assert choice["probe_seconds"] > 0
    assert hog.details["budget"]["chosen"] == "linear"


def test_the_budget_is_in_the_table_the_terminal_lines_and_the_report(tight) -> None:
    content = table(tight)
    assert "budget 0.50 s a pipeline" in content.title
    assert content.headers[-1] == "within budget"
    assert content.rows[1][-1].startswith(f"{tight.pipelines[1].details['budget']['chosen']}, ")
    lines = lessons(tight)
    assert lines[0].startswith("Each pipeline had 0.50 s (--budget)")
    assert any(line.startswith("cnn: ") and "over the 0.50 s budget" in line for line in lines)
    report = markdown(tight)
    assert "## Budget" in report and "within budget" in report


def test_given_options_win_over_the_budget() -> None:
    results = run_comparison(dataclasses.replace(SMALL, budget=0.5, epochs=2, svm="rbf").validated())
    hog, cnn = results.pipelines
    assert cnn.details["training"]["epochs"] == 2
    assert cnn.details["budget"]["reason"].startswith("given by --epochs")
    assert hog.details["svm_settings"]["kind"] == "rbf"
    assert hog.details["budget"]["reason"].startswith("given by --svm")
    assert not {"choose epochs (budget probe)", "choose svm (budget probe)"} & {
        s.name for p in results.pipelines for s in p.stages}


def test_with_several_svms_to_choose_from_a_probe_stage_picks_the_rbf_svm_when_it_fits(monkeypatch) -> None:
    monkeypatch.setattr(svm_settings, "LARGE_SET_FROM", 100)
    monkeypatch.setattr(svm_settings, "RBF_LANDMARKS_WITHIN_BUDGET", (100, 30))  # 100: --svm rbf's count here
    config = dataclasses.replace(SMALL, pipelines=("hog-svm",), train_size=900)  # at most 112 landmarks
    roomy = run_comparison(dataclasses.replace(config, budget=600.0).validated()).pipelines[0]
    assert roomy.details["budget"]["chosen"] == "rbf-100"
    assert list(roomy.details["budget"]["estimates"]) == ["linear", "rbf-30", "rbf-100"]  # the quickest first
    assert "choose svm (budget probe)" in {s.name for s in roomy.stages}
    # the fit takes the kernel map its probe fitted: the same classifier as --svm rbf fits from scratch
    given = run_comparison(dataclasses.replace(config, svm="rbf").validated()).pipelines[0]
    assert roomy.details["svm_settings"] == given.details["svm_settings"]
    assert roomy.correct == given.correct
    tiny = run_comparison(dataclasses.replace(config, budget=0.001).validated()).pipelines[0]
    assert tiny.details["budget"]["chosen"] == "linear"
    assert list(tiny.details["budget"]["estimates"]) == ["linear"]  # nothing stronger probed once it is over
    assert tiny.details["svm_settings"]["max_iter"] == 10  # no fit estimated past the budget: fewer iterations
    assert "fitted with 10 of its 150 L-BFGS iterations" in tiny.details["budget"]["reason"]


def test_a_budget_choice_is_reproduced_by_naming_it_with_svm(monkeypatch) -> None:
    monkeypatch.setattr(svm_settings, "LARGE_SET_FROM", 100)
    monkeypatch.setattr(svm_settings, "RBF_LANDMARKS_WITHIN_BUDGET", (100, 30))
    config = dataclasses.replace(SMALL, pipelines=("hog-svm",), train_size=900)
    chosen = run_comparison(dataclasses.replace(config, budget=600.0).validated()).pipelines[0]
    named = run_comparison(dataclasses.replace(config, svm=chosen.details["budget"]["chosen"]).validated()).pipelines[0]
    assert named.details["svm_settings"] == chosen.details["svm_settings"]
    assert named.correct == chosen.correct
    fewer = run_comparison(dataclasses.replace(config, svm="rbf-30", budget=600.0).validated()).pipelines[0]
    assert fewer.details["svm_settings"]["n_components"] == 30
    assert fewer.details["budget"]["reason"].startswith("given by --svm")
    assert "choose svm (budget probe)" not in {s.name for s in fewer.stages}


@pytest.mark.parametrize("value", ["rbf-0", "rbf-200000"])
def test_landmarks_out_of_range_are_a_one_line_error(value: str) -> None:
    result = CliRunner().invoke(app, ["compare", "--svm", value])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "landmarks" in lines[0] and "rbf-4000" in lines[0], result.stderr


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("value", ["0", "-5", "100000"])
def test_a_budget_out_of_range_is_a_one_line_error(value: str) -> None:
    result = CliRunner().invoke(app, ["compare", "--budget", value])
    assert result.exit_code == 2
    assert "--budget must be a number of seconds above 0" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(UserError, match="--budget"):
        dataclasses.replace(SMALL, budget=float(value)).validated()
