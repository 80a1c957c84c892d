"""compare --save keeps every trained pipeline; predict uses them on image files.

The classes predict gives for test images are the ones compare predicted for them, for every
pipeline; the saved files are JSON and plain tensors; damaged or missing inputs are one error line.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.errors import UserError
from featvslearn.experiments.config import CompareConfig
from featvslearn.experiments.predict import read_images
from featvslearn.experiments.run import load_data
from featvslearn.pipelines import PIPELINE_NAMES
from featvslearn.pipelines import saved as saved_models
from featvslearn.results import CompareResults, decode_correct, read_json
from tests.dataset_files import assert_user_error

runner = CliRunner()
SMALL = ["--train-size", "300", "--test-size", "100", "--epochs", "3", "--device", "cpu",
         "--pipelines", ",".join(PIPELINE_NAMES)]


def compare_predictions(results: CompareResults, name: str) -> np.ndarray:
    """The test-set classes compare predicted with pipeline ``name`` (N,), from its per-image correctness
    and its misclassified examples; -1 where a mistake's class is not among those kept."""
    result = next(p for p in results.pipelines if p.name == name)
    correct = decode_correct(result.correct)
    labels = np.full(len(correct), -1, dtype=np.int64)
    for example in result.misclassified:
        labels[example.index] = example.prediction
    return np.where(correct, -2, labels)  # -2: right (the true label)


def predicted_by_cli(models: Path, images: list[Path], tmp_path: Path) -> dict[tuple[str, str], int]:
    """(image path, pipeline) -> class index, from predict --json."""
    out = tmp_path / "predictions.json"
    result = runner.invoke(app, ["predict", str(models), *map(str, images), "--json", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        if not line.startswith("predictions written to"):
            assert len(line) <= 80, line  # the table and the lines on scores
    written = json.loads(out.read_text())
    return {(p["image"], p["pipeline"]): p["class_index"] for p in written["predictions"]}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CompareResults]:
    folder = tmp_path_factory.mktemp("digits")
    models, results = folder / "models", folder / "results.json"
    result = runner.invoke(app, ["compare", "--dataset", "digits", *SMALL, "--save", str(models),
                                 "--json", str(results)])
    assert result.exit_code == 0, result.output
    assert f"models written to {models}" in result.stdout
    return models, read_json(results)  # type: ignore[return-value]


def test_predict_gives_the_classes_compare_predicted(digits_run, tmp_path: Path) -> None:
    models, results = digits_run
    assert sorted(p.name for p in models.iterdir()) == sorted(PIPELINE_NAMES)
    config = CompareConfig(dataset="digits", device="cpu", train_size=300, test_size=100, epochs=3).validated()
    split, _ = load_data(config, train_size=300)
    expected = {name: compare_predictions(results, name) for name in PIPELINE_NAMES}
    wrong = sorted({i for e in expected.values() for i in np.flatnonzero(e >= 0)})
    chosen = sorted({*range(6), *wrong[:6]})
    paths = []
    for i in chosen:
        paths.append(tmp_path / f"test_{i:03d}.png")
        Image.fromarray(split.test.images[i, :, :, 0], mode="L").save(paths[-1])
    got = predicted_by_cli(models, paths, tmp_path)
    checked = 0
    for name in PIPELINE_NAMES:
        for i, path in zip(chosen, paths, strict=True):
            want = expected[name][i]
            if want == -1:
                continue
            assert got[str(path), name] == (split.test.labels[i] if want == -2 else want), (name, i)
            checked += 1
    assert checked >= len(PIPELINE_NAMES) * 6


def test_saved_files_are_json_and_plain_tensors(digits_run) -> None:
    models, _ = digits_run
    assert not [p for p in models.iterdir() if p.name.startswith(".")]  # no temporary folder left
    for folder in models.iterdir():
        assert sorted(p.name for p in folder.iterdir()) == ["model.json", "tensors.pt"]
        model = json.loads((folder / "model.json").read_text())
        assert model["format_version"] == saved_models.FORMAT_VERSION
        assert model["featvslearn_version"]
        assert model["data"]["class_names"] == [str(k) for k in range(10)]
        assert model["data"]["image_shape"] == [8, 8, 1]
        tensors = torch.load(folder / "tensors.pt", weights_only=True)  # no object is unpickled
        assert tensors and all(isinstance(t, torch.Tensor) for t in tensors.values())
    featuriser = json.loads((models / "sift-svm" / "model.json").read_text())["parts"]["featuriser"]
    assert "words_" in json.dumps(featuriser)  # the codebook, as a fitted attribute
    assert "get_params" not in featuriser and featuriser["class"] == "sklearn.pipeline.FeatureUnion"


def test_predict_errors_are_one_line(digits_run, tmp_path: Path) -> None:
    models, _ = digits_run
    image = tmp_path / "seven.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8), mode="L").save(image)

    def predict(folder: Path, *images: Path):
        return runner.invoke(app, ["predict", str(folder), *map(str, images or (image,)), "--device", "cpu"])

    assert_user_error(predict(tmp_path / "none"), "does not exist", "compare --save")
    (tmp_path / "empty").mkdir()
    assert_user_error(predict(tmp_path / "empty"), "holds no saved models")
    broken = tmp_path / "broken"
    shutil.copytree(models, broken)
    with open(broken / "cnn" / "tensors.pt", "r+b") as f:
        f.truncate(os.path.getsize(broken / "cnn" / "tensors.pt") // 2)
    assert_user_error(predict(broken), "cnn/tensors.pt", "damaged", "compare --save")
    shutil.rmtree(broken)
    shutil.copytree(models, broken)
    (broken / "hog-svm" / "model.json").write_text("{not json")
    assert_user_error(predict(broken), "hog-svm/model.json", "damaged")
    model = json.loads((models / "hog-svm" / "model.json").read_text())
    (broken / "hog-svm" / "model.json").write_text(json.dumps({**model, "format_version": 99}))
    assert_user_error(predict(broken), "model format 99")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    assert_user_error(predict(models, image, garbage), "cannot read", "garbage.png")


def test_a_save_folder_that_cannot_be_written_is_refused_before_training(tmp_path: Path) -> None:
    a_file = tmp_path / "models.txt"
    a_file.write_text("")
    for folder, fragment in ((a_file, "is a file"), (tmp_path / "no" / "such" / "models", "does not exist")):
        result = runner.invoke(app, ["compare", "--dataset", "digits", *SMALL, "--save", str(folder)])
        assert_user_error(result, "--save", fragment)
        assert "hog-svm" not in result.stdout  # nothing ran


def test_a_failed_write_leaves_no_model_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(saved_models, "model_files", lambda name, fitted, data: ("{}\n", b"tensors"))
    monkeypatch.setattr(saved_models.os, "replace", fail)
    with pytest.raises(UserError, match="cannot write the models"):
        saved_models.save_models(tmp_path / "models", {"cnn": None}, ["cnn"], {})
    assert list((tmp_path / "models").iterdir()) == []


def write_colour_folder(root: Path) -> Path:
    """Three colour classes of several sizes and aspect ratios, in train/ and test/."""
    rng = np.random.default_rng(0)
    for index in range(18):
        for k, name in enumerate(("red", "green", "blue")):
            height, width = int(rng.integers(14, 20)), int(rng.integers(14, 26))
            image = rng.integers(0, 60, (height, width, 3)).astype(np.uint8)
            image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4, k] = 220
            folder = root / ("test" if index % 3 == 0 else "train") / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="RGB").save(folder / f"{index:03d}.png")
    return root


def test_predict_on_a_folder_s_own_files_matches_compare(tmp_path: Path) -> None:
    data = write_colour_folder(tmp_path / "colours")
    models, results_path = tmp_path / "models", tmp_path / "results.json"
    result = runner.invoke(app, ["compare", "--dataset", str(data), "--epochs", "3", "--device", "cpu",
                                 "--pipelines", ",".join(PIPELINE_NAMES),
                                 "--save", str(models), "--json", str(results_path)])
    assert result.exit_code == 0, result.output
    results = read_json(results_path)
    assert results.dataset.sizing is not None and results.dataset.sizing.method == "pad"
    saved = json.loads((models / "cnn" / "model.json").read_text())["data"]
    assert saved["sizing"]["method"] == "pad" and len(saved["sizing"]["fill"]) == 3
    config = CompareConfig(dataset=str(data), device="cpu", epochs=3).validated()
    split, _ = load_data(config)
    files = sorted((data / "test").glob("*/*.png"))
    got = predicted_by_cli(models, files, tmp_path)
    rows = [next(i for i, image in enumerate(split.test.images) if np.array_equal(image, pixels))
            for pixels in read_images(files, saved)]  # each file's row in compare's test set
    for name in PIPELINE_NAMES:
        expected = compare_predictions(results, name)  # type: ignore[arg-type]
        for file, index in zip(files, rows, strict=True):
            want = expected[index]
            assert want != -1
            assert got[str(file), name] == (split.test.labels[index] if want == -2 else want), (name, file)
