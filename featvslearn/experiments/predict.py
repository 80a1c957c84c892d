"""Keep a comparison's trained pipelines and use them: ``compare --save`` and ``predict``.

:func:`save_run` writes what the first seed's pipelines on the first device fitted (see
:mod:`featvslearn.pipelines.saved`); :func:`predict_images` reads every pipeline of such a folder
and classifies image files, each brought to the training size as the folder loader brought the
training images. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featvslearn.datasets.folder import FIT_METHODS, prepare_image
from featvslearn.errors import UserError
from featvslearn.files import expand_user
from featvslearn.pipelines.saved import SavedPipeline, load_models, save_models
from featvslearn.results import DatasetInfo

PREDICTIONS_FORMAT_VERSION = 1
"""The version of ``predict --json`` files."""


# ------------------------------------------------------------------------------------- saving
def model_data(dataset: DatasetInfo) -> dict[str, Any]:
    """What a saved model records of its training data: the dataset's name, class names, image shape
    (H, W, C) and how an image folder's files were brought to that size (None for built-in datasets)."""
    sizing = dataclasses.asdict(dataset.sizing) if dataset.sizing is not None else None
    return {"dataset": dataset.name, "class_names": list(dataset.class_names),
            "image_shape": [int(v) for v in dataset.image_shape], "sizing": sizing}


def save_run(folder: Path, products: dict[str, Any], pipelines: Sequence[str], dataset: DatasetInfo) -> list[Path]:
    """Write the pipelines of a compare run (``products`` from ``run_comparison``) under ``folder``;
    returns the pipeline folders written."""
    return save_models(folder, products, pipelines, model_data(dataset))


# ----------------------------------------------------------------------------------- predicting
@dataclass
class Prediction:
    """One pipeline's answer for one image: the class (index and name) and its score (see ``score``
    of :class:`Predictions`)."""

    image: str
    pipeline: str
    class_index: int
    class_name: str
    score: float


@dataclass
class Predictions:
    """Every saved pipeline's prediction for every image, image by image in the order given, and
    what each pipeline's score is."""

    models: str
    device: str
    images: list[str]
    pipelines: list[str]
    scores: dict[str, str]
    predictions: list[Prediction]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values, for ``predict --json``."""
        return {"format_version": PREDICTIONS_FORMAT_VERSION, "models": self.models, "device": self.device,
                "pipelines": self.pipelines, "scores": self.scores,
                "predictions": [dataclasses.asdict(p) for p in self.predictions]}


def input_size(data: dict[str, Any]) -> tuple[tuple[int, int], int, str, list[int] | None]:
    """How an image is brought to a saved model's input: (size (H, W), channels, method, fill).

    An image folder's own method and padding colour where it padded, cropped or squashed; "pad" with
    black bands where its files all had one aspect ratio, and for the built-in datasets."""
    height, width, channels = (int(v) for v in data["image_shape"])
    sizing = data.get("sizing") or {}
    method = sizing.get("method") if sizing.get("method") in FIT_METHODS else "pad"
    fill = sizing.get("fill") if method == "pad" else None
    return (height, width), channels, method, None if fill is None else [int(v) for v in fill]


def read_images(paths: Sequence[Path], data: dict[str, Any]) -> np.ndarray:
    """Image files as a model's input (N, H, W, C) uint8 (see :func:`input_size`); an unreadable file is a
    :class:`UserError`."""
    size_hw, channels, method, fill = input_size(data)
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} is not a file; pass image files (PNG, JPEG, ...)")
    return np.stack([prepare_image(path, size_hw, channels, method, fill) for path in paths])


def _svm_scores(classifier: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """The labels (N,) an SVM of :func:`featvslearn.classical.make_classifier` predicts for features
    ``x`` (N, D) (a tensor on its device), and the decision value of each predicted label (N,)."""
    from sklearn.svm import SVC

    from featvslearn import classical

    labels = classical.predict_classifier(classifier, x)
    values = np.asarray(classifier.decision_function(x.detach().cpu().numpy() if isinstance(classifier, SVC) else x),
                        dtype=np.float64)
    classes = list(classifier.classes_)
    columns = np.array([classes.index(label) for label in labels])
    if values.ndim == 1:  # two classes: positive for the second
        return labels, np.where(columns == 1, values, -values)
    return labels, values[np.arange(len(labels)), columns]


def predict_with(model: SavedPipeline, images: np.ndarray, device: Any) -> tuple[np.ndarray, np.ndarray]:
    """A saved pipeline's labels (N,) and scores (N,) for images (N, H, W, C) uint8 on ``device``."""
    import torch

    from featvslearn import classical
    from featvslearn.learned import train

    parts = model.parts
    cnn = parts.get("cnn")
    if cnn is not None:
        pixels = train.images_to_device(images, device)  # (N, C, H, W) uint8
        if "classifier" not in parts:
            logits = train.predict(cnn.model, pixels, cnn.normaliser, cnn.autocast_dtype, tta=cnn.tta,
                                   hflip=cnn.hflip, logits=True)  # (N, K)
            probabilities = torch.softmax(logits.float(), dim=1)
            best, labels = probabilities.max(dim=1)
            return labels.cpu().numpy(), best.cpu().numpy().astype(np.float64)
        features = train.predict(cnn.model, pixels, cnn.normaliser, cnn.autocast_dtype, features=True)  # (N, D)
    else:
        featuriser = parts["featuriser"]
        features = classical.featurise(featuriser, classical.images_on(images, device),
                                       classical.featurise_chunk_size(len(images), device))  # (N, D)
    return _svm_scores(parts["classifier"], parts["standardiser"].transform(features))


def predict_images(models_folder: Path, image_paths: Sequence[Path], device_spec: str = "auto") -> Predictions:
    """Every pipeline saved in ``models_folder`` applied to each of ``image_paths`` on the device of
    ``device_spec`` (as ``--device``); a missing or damaged model folder or an unreadable image is a
    :class:`UserError`."""
    from featvslearn.device import resolve_device

    device = resolve_device(device_spec)
    folder = expand_user(models_folder, "MODELS_DIR")
    paths = [expand_user(path, "IMAGE") for path in image_paths]
    models = load_models(folder, device)
    inputs: dict[str, np.ndarray] = {}
    answers: dict[tuple[str, str], Prediction] = {}
    for model in models:
        key = repr(input_size(model.data))
        if key not in inputs:
            inputs[key] = read_images(paths, model.data)
        labels, scores = predict_with(model, inputs[key], device)
        names = model.data["class_names"]
        for path, label, score in zip(image_paths, labels, scores, strict=True):
            answers[str(path), model.name] = Prediction(str(path), model.name, int(label), str(names[int(label)]),
                                                        float(score))
    names_in_order = [model.name for model in models]
    return Predictions(
        models=str(folder), device=str(device), images=[str(p) for p in image_paths], pipelines=names_in_order,
        scores={model.name: model.score for model in models},
        predictions=[answers[str(path), name] for path in image_paths for name in names_in_order])
