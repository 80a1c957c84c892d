"""The comparison as a library call: determinism, results round-trip, the CNN pieces."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from featvslearn.errors import UserError
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.learned.models import CNN, cnn_config_for, flops_per_image, parameter_count
from featvslearn.learned.train import augment
from featvslearn.reports.compare import markdown
from featvslearn.results import read_json, write_json

SMALL = CompareConfig(dataset="digits", device="cpu", train_size=400, test_size=150, epochs=4, seed=3)


@pytest.fixture(scope="module")
def results():
    return run_comparison(SMALL.validated())


def test_same_seed_same_results(results) -> None:
    again = run_comparison(SMALL.validated())
    assert [p.accuracy for p in again.pipelines] == [p.accuracy for p in results.pipelines]
    assert again.pipelines[1].details["loss_per_epoch"] == results.pipelines[1].details["loss_per_epoch"]
    assert results.seed == 3


def test_progress_is_reported_for_every_long_step() -> None:
    seen: dict[str, tuple[float, float | None]] = {}
    run_comparison(dataclasses.replace(SMALL, epochs=1).validated(),
                   progress=lambda key, text, done, total: seen.__setitem__(key, (done, total)))
    assert {"load", "hog-svm-train", "hog-svm-fit", "hog-svm-test", "cnn-train"} <= set(seen)
    assert all(done == total for done, total in seen.values())


def test_results_round_trip_through_json(results, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(results, path)
    loaded = read_json(path)
    assert loaded.to_dict() == json.loads(json.dumps(results.to_dict()))
    assert markdown(loaded) == markdown(results)


TRAIN_STAGES = {"hog-svm": {"features (train)", "standardise", "svm fit"}, "cnn": {"to device", "train"}}
PREDICT_STAGES = {"hog-svm": {"features (test)", "predict"}, "cnn": {"evaluate"}}
WARM_UP_STAGES = {"hog-svm": {"warm-up (small slice)"}, "cnn": {"warm-up (small slice)", "warm-up"}}


def test_train_and_predict_seconds_are_the_seconds_of_their_named_stages(results) -> None:
    for pipeline in results.pipelines:
        seconds = {s.name: s.seconds for s in pipeline.stages}
        assert set(seconds) == TRAIN_STAGES[pipeline.name] | PREDICT_STAGES[pipeline.name] | WARM_UP_STAGES[
            pipeline.name]
        assert pipeline.train_seconds == pytest.approx(sum(seconds[n] for n in TRAIN_STAGES[pipeline.name]))
        assert pipeline.predict_seconds == pytest.approx(sum(seconds[n] for n in PREDICT_STAGES[pipeline.name]))
        assert pipeline.warmup_seconds == pytest.approx(sum(seconds[n] for n in WARM_UP_STAGES[pipeline.name]))
        assert pipeline.images_per_second == pytest.approx(150 / pipeline.predict_seconds)  # SMALL's test images
        assert sum(map(sum, pipeline.confusion_matrix)) == 150


@pytest.mark.parametrize(("shape", "stages"), [((8, 8, 1), 2), ((16, 16, 1), 2), ((28, 28, 1), 3), ((32, 32, 3), 3),
                                               ((48, 48, 3), 4), ((224, 224, 3), 4)])
def test_cnn_fits_the_image_size(shape: tuple[int, int, int], stages: int) -> None:
    config = cnn_config_for(shape, 10, "cpu")
    assert len(config.widths) == stages and config.in_channels == shape[2]
    model = CNN(config)
    x = torch.randn(2, shape[2], shape[0], shape[1])
    assert model(x).shape == (2, 10)
    assert model.features(x).shape == (2, config.widths[-1])
    assert parameter_count(model) > 0 and flops_per_image(config, shape[0], shape[1]) > 0


def test_augment_translates_and_flips_each_image_on_its_own() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    generator = torch.Generator().manual_seed(0)
    out = augment(x, translate=0, hflip=True, generator=generator)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    shifted = augment(x, translate=2, hflip=False, generator=torch.Generator().manual_seed(1))
    assert shifted.shape == x.shape
    assert not torch.equal(shifted, x)
    # the centre 2x2 of a shifted 6x6 image comes from inside the original image
    assert set(shifted[:, :, 2:4, 2:4].flatten().tolist()) <= set(x.flatten().tolist())


def test_config_is_checked_before_any_work() -> None:
    with pytest.raises(UserError, match="unknown dataset"):
        CompareConfig(dataset="nope").validated()
    with pytest.raises(UserError, match=r"must end in \.json"):
        CompareConfig(json_path=Path("x.md")).validated()


# ------------------------------------------------------------------------- warm-up
@pytest.mark.parametrize("name", ["hog-svm", "sift-svm", "sift-fv", "cnn", "learned-svm"])
def test_every_pipeline_warms_up_apart_and_the_warm_up_changes_no_result(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from featvslearn.experiments import run
    from featvslearn.pipelines import RunSettings

    config = CompareConfig(dataset="digits", device="cpu", train_size=200, test_size=100).validated()
    split, _ = run.load_data(config, train_size=config.train_size)
    settings = RunSettings(seed=3, epochs=2)
    warmed = run.run_pipeline(name, split, torch.device("cpu"), settings)
    monkeypatch.setattr(run, "warm_up", lambda *args, **kwargs: None)
    cold = run.run_pipeline(name, split, torch.device("cpu"), settings)
    assert warmed.stages[0].name == run.WARM_UP_STAGE
    assert run.WARM_UP_STAGE not in [s.name for s in cold.stages]
    assert warmed.confusion_matrix == cold.confusion_matrix
    assert warmed.accuracy == cold.accuracy
    stage_seconds = {s.name: s.seconds for s in warmed.stages}
    assert warmed.warmup_seconds >= stage_seconds[run.WARM_UP_STAGE] > 0
    timed = sum(s.seconds for s in warmed.stages if not s.name.startswith("warm-up"))
    assert warmed.train_seconds + warmed.predict_seconds == pytest.approx(timed)
