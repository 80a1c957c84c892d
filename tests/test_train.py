"""The CNN trainer's parts: whitening, warm-up, TTA, presets, EMA, and the learned-svm probe."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.experiments.run import WARM_UP_STAGE
from featvslearn.learned import train
from featvslearn.learned.models import CNN, cnn_config_for

SMALL = CompareConfig(dataset="digits", device="cpu", train_size=400, test_size=150, epochs=3, seed=5)


def uint8_images(n: int = 64, c: int = 1, side: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.rand(n, c, side // 2, side // 2, generator=generator)
    x = nn.functional.interpolate(smooth, size=(side, side), mode="bilinear") * 200 + 20  # correlated pixels
    return x.to(torch.uint8)


def test_whitening_filters_decorrelate_patches() -> None:
    images = uint8_images(200, c=3)
    normaliser = train.Normaliser.fit(images)
    filters = train.whitening_filters(images, normaliser, kernel=3, eps=1e-6)  # (2 * 27, 3, 3, 3)
    assert filters.shape == (54, 3, 3, 3)
    torch.testing.assert_close(filters[1::2], -filters[0::2])
    responses = nn.functional.conv2d(normaliser(images), filters[0::2])  # (N, 27, H-2, W-2)
    flat = responses.permute(1, 0, 2, 3).reshape(27, -1).double()
    covariance = torch.cov(flat)
    torch.testing.assert_close(covariance, torch.eye(27, dtype=torch.float64), atol=0.05, rtol=0)


def test_whiten_first_layer_sets_the_leading_filters_only() -> None:
    images = uint8_images(100)
    model = CNN(cnn_config_for((12, 12, 1), 3, "cpu"))
    before = model.body[0].weight.detach().clone()  # (32, 1, 3, 3)
    count = train.whiten_first_layer(model, images, train.Normaliser.fit(images))
    after = model.body[0].weight.detach()
    assert count == 18  # 9 directions of a 3x3 grey patch, each with its negation
    assert not torch.equal(after[:count], before[:count]) and torch.equal(after[count:], before[count:])


def test_training_keeps_the_whitened_first_layer_fixed_and_trains_the_rest() -> None:
    images = uint8_images(96)
    labels = torch.randint(0, 3, (96,), generator=torch.Generator().manual_seed(1))
    model = CNN(cnn_config_for((12, 12, 1), 3, "cpu"))
    normaliser = train.Normaliser.fit(images)
    train.whiten_first_layer(model, images, normaliser)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    settings = train.train_settings_for(96, 12, "cpu", False, 0, epochs=2)
    train.train_cnn(model, images, labels, normaliser, settings)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    assert "body.0.weight" not in changed  # the whitening filters, and the random ones beside them
    assert changed == set(before) - {"body.0.weight"}


def test_warm_up_changes_no_weight_or_statistic() -> None:
    images = uint8_images(64)
    labels = torch.randint(0, 3, (64,))
    model = CNN(cnn_config_for((12, 12, 1), 3, "cpu"))
    settings = train.train_settings_for(64, 12, "cpu", False, 0, epochs=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = train.warm_up(model, images, labels, train.Normaliser.fit(images), settings)
    assert trainable is model
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


class LeftHeavy(nn.Module):
    """A toy model whose logits depend on which half of the image is bright."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[3]
        left, right = x[..., : w // 2].mean((1, 2, 3)), x[..., w // 2 :].mean((1, 2, 3))
        return torch.stack([left - right, 0.2 * torch.ones_like(left)], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


def test_flip_tta_averages_the_mirrored_view() -> None:
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    images[:, :, :, :4] = 200  # bright left half
    normaliser = train.Normaliser(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))
    plain = train.predict(LeftHeavy(), images, normaliser, None, tta=0)
    averaged = train.predict(LeftHeavy(), images, normaliser, None, tta=1, hflip=True)
    assert plain.tolist() == [0, 0, 0, 0]  # left - right is large
    assert averaged.tolist() == [1, 1, 1, 1]  # the mirror cancels it; the constant logit wins
    no_flip = train.predict(LeftHeavy(), images, normaliser, None, tta=1, hflip=False)
    assert torch.equal(no_flip, plain)  # no flips where flips change the class


def test_presets_scale_width_epochs_and_augmentation() -> None:
    quick = train.train_settings_for(60_000, 28, "cpu", True, 0, preset="quick")
    standard = train.train_settings_for(60_000, 28, "cpu", True, 0, preset="standard")
    best = train.train_settings_for(60_000, 28, "cpu", True, 0, preset="best")
    assert quick.epochs < standard.epochs < best.epochs
    assert (quick.tta, standard.tta, best.tta) == (0, 1, 2)
    assert best.ema_decay is not None and standard.ema_decay is None
    widths = [cnn_config_for((28, 28, 1), 10, "cpu", train.PRESETS[p].width_multiplier).widths
              for p in ("quick", "standard", "best")]
    assert widths == [(16, 32, 64), (32, 64, 128), (64, 128, 256)]


def test_best_preset_evaluates_an_average_of_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    averaged, evaluated = [], []
    train_cnn, predict = train.train_cnn, train.predict

    def recording_train(*args: Any, **kwargs: Any) -> train.TrainLog:
        log = train_cnn(*args, **kwargs)
        averaged.append(log.ema_model)
        return log

    def recording_predict(net: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        evaluated.append(net)
        return predict(net, *args, **kwargs)

    monkeypatch.setattr(train, "train_cnn", recording_train)
    monkeypatch.setattr(train, "predict", recording_predict)
    result = run_comparison(dataclasses.replace(SMALL, pipelines=("cnn",), preset="best", epochs=2).validated())
    details = result.pipelines[0].details
    assert details["preset"] == "best" and details["test_time_augmentation"] == 2
    assert details["training"]["ema_decay"] == pytest.approx(0.99)
    # the test set is labelled by the average of the weights that the last training produced
    assert averaged[-1] is not None and evaluated[-1] is averaged[-1]


def test_learned_svm_reuses_the_cnn_of_the_run_in_any_order() -> None:
    results = run_comparison(dataclasses.replace(SMALL, pipelines=("learned-svm", "cnn")).validated())
    assert [p.name for p in results.pipelines] == ["learned-svm", "cnn"]
    probe = results.pipelines[0]
    assert "train" not in [s.name for s in probe.stages]
    assert probe.details["cnn"].startswith("reuses the cnn")
    assert probe.accuracy > 0.8


def test_learned_svm_alone_trains_its_own_cnn_and_counts_it() -> None:
    results = run_comparison(dataclasses.replace(SMALL, pipelines=("learned-svm",)).validated())
    probe = results.pipelines[0]
    stages = [s.name for s in probe.stages]
    assert "train" in stages and "svm fit" in stages
    train_stage = next(s for s in probe.stages if s.name == "train")
    assert probe.train_seconds >= train_stage.seconds
    assert probe.details["cnn"].startswith("trains its own")


def test_epoch_accuracy_is_recorded_per_epoch() -> None:
    results = run_comparison(dataclasses.replace(SMALL, pipelines=("cnn",), epoch_accuracy=True).validated())
    accuracies = results.pipelines[0].details["test_accuracy_per_epoch"]
    assert len(accuracies) == 3 and all(0 <= a <= 1 for a in accuracies)


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_cpu_training_is_deterministic_for_a_seed(precision: str) -> None:
    config = dataclasses.replace(SMALL, pipelines=("cnn",), precision=precision).validated()
    first, second = run_comparison(config), run_comparison(config)
    assert first.pipelines[0].details["loss_per_epoch"] == second.pipelines[0].details["loss_per_epoch"]
    assert np.array_equal(first.pipelines[0].confusion_matrix, second.pipelines[0].confusion_matrix)


def test_warm_up_is_its_own_stage_and_not_training_time() -> None:
    result = run_comparison(dataclasses.replace(SMALL, pipelines=("cnn",)).validated()).pipelines[0]
    warm = [s for s in result.stages if s.name.startswith("warm-up")]
    assert [s.name for s in warm] == [WARM_UP_STAGE, "warm-up"]  # the run's slice, then the network's own pass
    assert result.warmup_seconds == pytest.approx(sum(s.seconds for s in warm))
    train_stages = [s for s in result.stages if s.name in ("to device", "train")]
    assert result.train_seconds == pytest.approx(sum(s.seconds for s in train_stages))


def test_compile_is_reported_as_warm_up() -> None:
    config = dataclasses.replace(SMALL, pipelines=("cnn",), epochs=1, compile=True).validated()
    result = run_comparison(config).pipelines[0]
    assert [s.name for s in result.stages][:3] == [WARM_UP_STAGE, "to device", "warm-up and compile"]
    assert result.details["training"]["compile"] is True
    assert result.accuracy > 0.3
