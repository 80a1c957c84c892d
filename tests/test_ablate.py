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

from featvslearn import ablation, train
from featvslearn.ablation import ablation_epochs, loss_curve, run_ablation, variant_cnn_config
from featvslearn.cli import app
from featvslearn.config import AblateConfig
from featvslearn.datasets import Dataset, Split, subsample
from featvslearn.errors import UserError
from featvslearn.models import CNN, cnn_config_for, parameter_count
from featvslearn.results import AblateResults
from featvslearn.variants import ABLATION_VARIANTS, DEFAULT_ABLATION_VARIANTS
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
    return results, report


def test_json_has_the_documented_fields_and_types(ablate_run: tuple[Path, Path]) -> None:
    data = json.loads(ablate_run[0].read_text())
    assert data["schema_version"] == 2 and data["kind"] == "ablate" and isinstance(data["machine_busy"], bool)
    assert {"dataset", "device", "seed", "environment", "settings", "created", "total_seconds"} <= set(data)
    assert data["dataset"]["name"] == "digits" and data["dataset"]["train_size"] == 120
    assert data["device"] == "cpu" and data["seed"] == 0 and data["settings"]["epochs"] == 2
    assert data["settings"]["lr_rule"] == ablation.LR_RULE and data["settings"]["lr_source"] == ablation.LR_SOURCE
    assert "benchmarks/choose_defaults.py" in ablation.LR_SOURCE and "validation split" in ablation.LR_SOURCE
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
    depth = {v["name"]: v["depth"] for v in data["variants"]}
    assert depth["relu-bn"] == 3 and depth["sigmoid-deep-plain"] == 5  # digits: one stage of 2 (or 4) convs + linear


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
        assert images == ["ablate-plots/loss-curves.png", "ablate-plots/accuracy.png"]
        for link in images:
            assert (markdown.parent / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    for section in ("## Result", "## Variants", "## Training loss", "## The same budget for every variant"):
        assert section in text
    assert (f"(the lr column): {ablation.LR_RULE}; the factors were fixed by {ablation.LR_SOURCE}, not measured on "
            "the digits data of this run\n") in text


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
    """compare's CNN: same layers, parameter counts and (seeded) initial weights as before ablate existed."""
    for shape, parameters, weight_sum in [((8, 8, 1), 9962, 60.45197677612305), ((28, 28, 1), 65834, 193.2607421875),
                                          ((32, 32, 3), 288746, 453.9559020996094)]:
        torch.manual_seed(0)
        config = cnn_config_for(shape, 10, "cpu")
        model = CNN(config)
        assert parameter_count(model) == parameters
        assert float(sum(p.detach().sum() for p in model.parameters())) == pytest.approx(weight_sum, rel=1e-6)
        assert (config.activation, config.batch_norm, config.dropout, config.init) == ("relu", True, 0.0, "torch")
    kinds = [type(m).__name__ for m in CNN(cnn_config_for((28, 28, 1), 10, "cpu")).body]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU"] * 2 + ["MaxPool2d"] + ["Conv2d", "BatchNorm2d", "ReLU"] * 2 + [
        "MaxPool2d"]


@pytest.mark.parametrize("name", list(ABLATION_VARIANTS))
def test_each_variant_builds_the_network_it_names(name: str) -> None:
    variant = ABLATION_VARIANTS[name]
    config = variant_cnn_config(variant, (28, 28, 1), 10, "cpu")
    model = CNN(config)
    convs = [m for m in model.body if isinstance(m, nn.Conv2d)]
    assert len(convs) == (8 if variant.deep else 4) and config.depth() == len(convs) + 1
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.body) is variant.batch_norm
    assert all((c.bias is None) is variant.batch_norm for c in convs)
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[variant.activation]
    assert sum(isinstance(m, activation) for m in model.body) == len(convs)
    assert isinstance(model.dropout, nn.Dropout) is (variant.dropout > 0)
    x = torch.randn(2, 1, 28, 28)
    assert model(x).shape == (2, 10)
    # initialisation matched to the activation: He (variance 2 / fan-in) or Glorot (2 / (fan-in + fan-out))
    weights = convs[-1].weight  # (64, 64, 3, 3)
    fan_in, fan_out = weights.shape[1] * 9, weights.shape[0] * 9
    expected = 2 / fan_in if variant.activation == "relu" else 2 / (fan_in + fan_out)
    assert float(weights.detach().var()) == pytest.approx(expected, rel=0.1)


def test_only_plain_relu_variants_train_at_a_lower_rate_and_none_whitens() -> None:
    settings = {
        name: ablation.variant_train_settings(v, 10_000, 28, "cpu", True, 0, 10, None)
        for name, v in ABLATION_VARIANTS.items()
    }
    reference = train.train_settings_for(10_000, 28, "cpu", True, 0, epochs=10)
    for name, s in settings.items():
        factor = {"relu-plain": 0.5, "relu-deep-plain": 0.25}.get(name, 1.0)  # benchmarks/choose_defaults.py
        assert s.lr == pytest.approx(reference.lr * factor)
        assert not s.whiten and s.tta == 0
        assert (s.epochs, s.batch_size, s.seed, s.weight_decay, s.label_smoothing) == (
            reference.epochs, reference.batch_size, reference.seed, reference.weight_decay, reference.label_smoothing)


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
