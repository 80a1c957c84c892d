"""featvslearn ablate: CNN variants for the same budget, their JSON, report and plots, on small data."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.datasets import Dataset, Split, subsample
from featvslearn.errors import UserError
from featvslearn.experiments import ablation
from featvslearn.experiments.ablation import ablation_epochs, loss_curve, run_ablation, variant_cnn_config
from featvslearn.experiments.config import AblateConfig
from featvslearn.learned import train
from featvslearn.learned.models import CNN, cnn_config_for, parameter_count
from featvslearn.learned.variants import ABLATION_VARIANTS, DEFAULT_ABLATION_VARIANTS
from featvslearn.reports.ablate_reading import compared_pairs
from featvslearn.results import AblateResults, decode_correct
from tests.test_cli import assert_user_error

runner = CliRunner()

TINY = ["--dataset", "digits", "--device", "cpu", "--train-size", "120", "--test-size", "60", "--epochs", "2"]

VARIANT_TYPES = {
    "name": str, "activation": str, "batch_norm": bool, "dropout": float, "depth": int, "accuracy": float,
    "train_seconds": float, "loss_curve": dict,
}


@pytest.fixture(scope="module")
def ablate_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One CLI run of every default variant on 120 digits for 2 epochs: (results JSON, Markdown report)."""
    folder = tmp_path_factory.mktemp("ablate")
    results, report = folder / "ablate.json", folder / "ablate.md"
    result = runner.invoke(app, ["ablate", *TINY, "--json", str(results), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "sigmoid-deep-plain" in result.stdout and "accuracy" in result.stdout
    assert ("- Shallow networks (4 weight layers), each with the initialisation and learning rate chosen for its "
            "activation:") in " ".join(result.stdout.split())  # the lessons
    return results, report


def test_json_has_the_documented_fields_and_types(ablate_run: tuple[Path, Path]) -> None:
    data = json.loads(ablate_run[0].read_text())
    assert data["schema_version"] == 2 and data["kind"] == "ablate" and isinstance(data["machine_busy"], bool)
    assert {"dataset", "device", "seed", "environment", "settings", "created", "total_seconds"} <= set(data)
    assert data["dataset"]["name"] == "digits" and data["dataset"]["train_size"] == 120
    assert data["device"] == "cpu" and data["seed"] == 0 and data["settings"]["epochs"] == 2
    settings = data["settings"]
    assert settings["lr_rule"] == ablation.LR_RULE and settings["lr_factors"] == list(ablation.LR_FACTORS)
    assert [v["name"] for v in data["variants"]] == list(DEFAULT_ABLATION_VARIANTS)
    for v in data["variants"]:
        for key, kind in VARIANT_TYPES.items():
            assert isinstance(v[key], kind), (v["name"], key)
        variant = ABLATION_VARIANTS[v["name"]]
        assert v["activation"] in ("sigmoid", "tanh", "relu") and v["activation"] == variant.activation
        assert v["batch_norm"] is variant.batch_norm and v["dropout"] == variant.dropout
        assert 0 <= v["accuracy"] <= 1 and v["train_seconds"] > 0
        curve = v["loss_curve"]
        assert set(curve) == {"epoch", "loss"} and 0 < len(curve["epoch"]) == len(curve["loss"]) <= 200
        assert all(isinstance(x, float) for x in curve["epoch"] + curve["loss"])
        assert np.all(np.diff(curve["epoch"]) > 0) and curve["epoch"][-1] == pytest.approx(2.0)
        assert len(v["loss_per_epoch"]) == 2 and {s["name"] for s in v["stages"]} >= {"train", "evaluate"}
        # the learning rate: chosen in the run, on a validation split, timed apart from training
        assert [c["lr_factor"] for c in v["lr_candidates"]] == list(ablation.LR_FACTORS)
        assert all(0 <= c["validation_accuracy"] <= 1 for c in v["lr_candidates"])
        best = max(c["validation_accuracy"] for c in v["lr_candidates"])
        factor = max(c["lr_factor"] for c in v["lr_candidates"] if c["validation_accuracy"] == best)
        assert v["lr"] == pytest.approx(factor * train.train_settings_for(120, 8, "cpu", False, 0, epochs=2).lr)
        assert v["lr_selection_seconds"] > 0 and ablation.LR_STAGE in {s["name"] for s in v["stages"]}
        assert v["train_images"] == 120  # the small-data variants' 1,000 are more than this run has
    # per test image, whether each variant got it right: the McNemar tests of the reading read it
    results = AblateResults.from_dict(data)
    for v in results.variants:
        assert v.correct is not None and v.correct.length == 60
        assert decode_correct(v.correct).mean() == pytest.approx(v.accuracy)
    tests = settings["tests"]
    assert tests and {tuple(t["variants"]) for t in tests} == set(compared_pairs(results))
    for t in tests:
        assert set(t) == {"variants", "test", "p_value", "p_value_holm", "a_only", "b_only", "n"}
        assert t["test"] == "mcnemar-exact" and t["n"] == 60 and t["p_value"] <= t["p_value_holm"] <= 1
    depth = {v["name"]: v["depth"] for v in data["variants"]}
    # digits (8x8): one stage of 1 (or 4) 5x5 convolutions, then the 120- and 84-unit layers and the classifier
    assert depth["relu-bn"] == 4 and depth["sigmoid-deep-plain"] == 7


def test_report_rerenders_the_same_markdown_and_every_image_exists(ablate_run: tuple[Path, Path]) -> None:
    results, report = ablate_run
    again = report.parent / "again" / report.name
    again.parent.mkdir()
    result = runner.invoke(app, ["report", str(results), "--out", str(again)])
    assert result.exit_code == 0, result.output
    assert "sigmoid-deep-plain" in result.stdout  # the terminal table
    assert again.read_text() == report.read_text()
    for markdown in (report, again):
        text = markdown.read_text()
        images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
        assert images == ["ablate-plots/loss-curves.png", "ablate-plots/loss-seconds.png", "ablate-plots/accuracy.png"]
        for link in images:
            assert (markdown.parent / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    for section in ("## Result", "What the ablation shows:", "## Variants", "## Training loss",
                    "## The same budget for every variant", "## Learning rates tried"):
        assert section in text
    assert f"; {ablation.LR_RULE} (the lr column; see below)\n" in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--variants", "relu-bn,sigmoid-deeep"], "unknown variant 'sigmoid-deeep'"),
        (["--variants", ","], "--variants is empty"),
        (["--train-size", "0"], "--train-size"),
        (["--epochs", "0"], "--epochs"),
        (["--json", "out.txt"], ".json"),
    ],
    ids=["unknown-variant", "no-variants", "train-size-0", "epochs-0", "json-suffix"],
)
def test_bad_options_get_one_line_and_exit_code_2(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["ablate", *args])
    assert_user_error(result, fragment)
    if "variant" in fragment:
        assert all(name in result.stderr for name in DEFAULT_ABLATION_VARIANTS)  # names the valid choices


def test_the_same_seed_gives_the_same_accuracies_and_loss_curves() -> None:
    config = AblateConfig(dataset="digits", device="cpu", variants=("relu-bn", "sigmoid-plain"), train_size=120,
                          test_size=60, epochs=2, seed=4).validated()
    first, second = run_ablation(config), run_ablation(config)
    assert [v.accuracy for v in first.variants] == [v.accuracy for v in second.variants]
    assert [v.loss_curve for v in first.variants] == [v.loss_curve for v in second.variants]
    assert first.variants[0].loss_curve != first.variants[1].loss_curve


def test_default_cnn_is_unchanged() -> None:
    """compare's CNN: its layers, parameter counts and (seeded) initial weights are pinned, so that
    ablate's network options leave it as it is."""
    for shape, parameters, weight_sum in [((8, 8, 1), 56554, 164.3873748779297),
                                          ((28, 28, 1), 278890, 416.3286437988281),
                                          ((32, 32, 3), 279466, 420.7929992675781)]:
        torch.manual_seed(0)
        config = cnn_config_for(shape, 10, "cpu")
        model = CNN(config)
        assert parameter_count(model) == parameters
        assert float(sum(p.detach().sum() for p in model.parameters())) == pytest.approx(weight_sum, rel=1e-6)
        assert (config.activation, config.batch_norm, config.dropout, config.init) == ("relu", True, 0.0, "torch")
    kinds = [type(m).__name__ for m in CNN(cnn_config_for((28, 28, 1), 10, "cpu")).body]
    conv_pool_bn = ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    conv_bn = ["Conv2d", "BatchNorm2d", "ReLU"]
    assert kinds == conv_pool_bn + (conv_bn + conv_pool_bn) * 2


@pytest.mark.parametrize("name", list(ABLATION_VARIANTS))
def test_each_variant_builds_the_network_it_names(name: str) -> None:
    variant = ABLATION_VARIANTS[name]
    config = variant_cnn_config(variant, (28, 28, 1), 10)
    model = CNN(config)
    convs = [m for m in model.body if isinstance(m, nn.Conv2d)]
    dense = [m for m in model.dense if isinstance(m, nn.Linear)]
    assert len(convs) == (8 if variant.deep else 2) and [d.out_features for d in dense] == [120, 84]
    assert config.depth() == len(convs) + 3 and all(c.kernel_size == (5, 5) for c in convs)
    assert [c.out_channels for c in convs][-1] == 16 and convs[0].out_channels == 6  # LeNet-5's maps
    pools = [m for m in model.body if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert len(pools) == 2 and all(isinstance(m, nn.AvgPool2d) is (variant.pooling == "avg") for m in pools)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.body) is variant.batch_norm
    assert all((c.bias is None) is variant.batch_norm for c in convs + dense)
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[variant.activation]
    assert sum(isinstance(m, activation) for m in [*model.body, *model.dense]) == len(convs) + 2
    assert isinstance(model.dropout, nn.Dropout) is (variant.dropout > 0)
    x = torch.randn(2, 1, 28, 28)
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, 84)
    # initialisation matched to the activation: He (variance 2 / fan-in) or Glorot (2 / (fan-in + fan-out))
    weights = convs[-1].weight  # (16, 16 or 6, 5, 5)
    fan_in, fan_out = weights.shape[1] * 25, weights.shape[0] * 25
    expected = 2 / fan_in if variant.activation == "relu" else 2 / (fan_in + fan_out)
    assert float(weights.detach().var()) == pytest.approx(expected, rel=0.15)


def test_lenet5_is_tanh_with_average_pooling() -> None:
    lenet = ABLATION_VARIANTS["lenet5"]
    assert (lenet.activation, lenet.pooling, lenet.batch_norm, lenet.deep) == ("tanh", "avg", False, False)
    assert "lenet5" in DEFAULT_ABLATION_VARIANTS


def test_the_learning_rate_is_chosen_on_four_fifths_of_the_training_images_and_never_the_test_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from featvslearn.datasets import load_split

    split = load_split("digits", download=False)
    train_set = subsample(split.train, 200, seed=0)
    config = variant_cnn_config(ABLATION_VARIANTS["relu-bn"], train_set.image_shape, 10)
    seen: list[int] = []
    original = train.train_cnn

    def spy(model: nn.Module, images: torch.Tensor, *args: object, **kwargs: object) -> train.TrainLog:
        seen.append(images.shape[0])
        return original(model, images, *args, **kwargs)

    monkeypatch.setattr(train, "train_cnn", spy)
    factor, trials = ablation.choose_lr(config, train_set, torch.device("cpu"), 3, 0, None)
    assert seen == [160] * len(ablation.LR_FACTORS)  # every rate trains on the same 4/5 of the 200 images
    assert [t["lr_factor"] for t in trials] == list(ablation.LR_FACTORS)
    best = max(t["validation_accuracy"] for t in trials)
    assert factor == max(t["lr_factor"] for t in trials if t["validation_accuracy"] == best)
    reference = train.train_settings_for(200, 8, "cpu", False, 0, epochs=3)
    chosen = ablation.variant_train_settings(200, 8, False, 0, 3, None, factor)
    assert chosen.lr == pytest.approx(reference.lr * factor) and not chosen.whiten and chosen.tta == 0
    assert [ablation.selection_epochs(e) for e in (10, 40, 2)] == [3, 13, 2]


def test_small_data_variants_train_on_a_stratified_thousand_for_their_own_epochs() -> None:
    rng = np.random.default_rng(0)
    dataset = Dataset("synthetic", rng.integers(0, 256, (3000, 8, 8, 1), dtype=np.uint8),
                      np.arange(3000, dtype=np.int64) % 10, tuple("abcdefghij"), "generated", False)
    split = Split(train=dataset, test=dataset)
    small = ABLATION_VARIANTS["relu-bn-dropout-small"]
    chosen = ablation.variant_split(small, split, seed=0)
    assert len(chosen.train) == 1000 and np.bincount(chosen.train.labels).tolist() == [100] * 10
    assert np.array_equal(chosen.train.images, ablation.variant_split(ABLATION_VARIANTS["relu-bn-small"], split,
                                                                      seed=0).train.images)  # the same thousand
    assert ablation.variant_split(ABLATION_VARIANTS["relu-bn"], split, seed=0) is split
    assert ablation.variant_epochs(small, split, 10, AblateConfig()) == 40
    assert ablation.variant_epochs(small, split, 10, AblateConfig(epochs=3)) == 10  # --epochs holds for all


def test_loss_curve_averages_windows_of_steps_and_marks_non_finite_losses() -> None:
    steps = np.arange(1000, dtype=float)  # 10 epochs of 100 steps
    curve = loss_curve(list(steps), steps_per_epoch=100)
    assert len(curve["epoch"]) == 200 and curve["epoch"][0] == pytest.approx(0.05) and curve["epoch"][-1] == 10.0
    assert curve["loss"][:2] == [pytest.approx(2.0), pytest.approx(7.0)]  # means of 0..4 and 5..9
    short = loss_curve([3.0, math.nan, 1.0], steps_per_epoch=3)
    assert short == {"epoch": [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0], "loss": [3.0, None, 1.0]}


def test_trainer_records_the_loss_of_every_step() -> None:
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(96, 1, 8, 8, generator=generator) * 255).to(torch.uint8)
    labels = torch.randint(0, 3, (96,), generator=generator)
    settings = train.train_settings_for(96, 8, "cpu", False, 0, epochs=2)  # batch 32: 3 steps per epoch
    log = train.train_cnn(CNN(cnn_config_for((8, 8, 1), 3, "cpu")), images, labels, train.Normaliser.fit(images),
                          settings)
    assert len(log.loss_per_step) == 6
    for epoch in range(2):
        assert np.mean(log.loss_per_step[3 * epoch : 3 * epoch + 3]) == pytest.approx(log.loss_per_epoch[epoch])


def test_default_budget_draws_ten_thousand_training_images(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)

    def dataset(n: int) -> Dataset:
        return Dataset("synthetic", rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8),
                       np.arange(n, dtype=np.int64) % 10, tuple("abcdefghij"), "generated", False)

    full = Split(train=dataset(12_000), test=dataset(500))
    monkeypatch.setattr(ablation, "load_data", lambda config, progress, train_size=None: (full, 0.0))
    split, _ = ablation._ablation_split(AblateConfig(seed=2), lambda *args: None)
    assert len(split.train) == 10_000 and len(split.test) == 500
    assert np.array_equal(split.train.images, subsample(full.train, 10_000, seed=2).images)  # as --train-size 10000
    explicit, _ = ablation._ablation_split(AblateConfig(train_size=12_000), lambda *args: None)
    assert len(explicit.train) == 12_000
    assert ablation_epochs(10_000) == 10 and ablation_epochs(60_000) == 10 and ablation_epochs(1_347) == 40


def test_results_of_another_kind_are_refused() -> None:
    with pytest.raises(UserError, match="not ablate results"):
        AblateResults.from_dict({"schema_version": 1, "kind": "compare"})
    with pytest.raises(UserError, match="malformed"):
        AblateResults.from_dict({"schema_version": 1, "kind": "ablate", "variants": [{"name": "x"}]})


def test_runs_logged_by_an_ablation_of_fixed_learning_rates_are_not_reused(tmp_path: Path) -> None:
    from featvslearn.experiments.runlog import RunLog

    config = AblateConfig(dataset="digits", device="cpu", variants=("relu-bn",), train_size=120, test_size=60,
                          epochs=2).validated()
    identity = ablation.sweep_identity(config, "cpu", 120, 2)
    older = {key: value for key, value in identity.items() if key not in ("networks", "learning_rates")}
    path = tmp_path / "ablate.runs.jsonl"
    record = {"name": "relu-bn", "accuracy": 0.5}
    path.write_text(json.dumps({"sweep": older, "run": {"variant": "relu-bn"}, "record": record}) + "\n")
    with pytest.warns(UserWarning, match="not reused"):
        reused = RunLog(path, resume=True).open(identity)
    assert reused == {}
