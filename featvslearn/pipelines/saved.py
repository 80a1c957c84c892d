"""Trained pipelines on disk: written by ``compare --save DIR``, read back by ``predict``.

Each pipeline goes in a folder of its own, ``DIR/<pipeline>/``, with two files:

* ``model.json``: the format version, the featvslearn version, the data the pipeline was trained
  on (class names, image shape, how images were brought to that size) and its parts. A
  scikit-learn part (featuriser, standardiser, SVM) is written as its class, its parameters
  (``get_params``) and every other attribute it holds once fitted (``words_``, ``coef_``, ...),
  nested parts alike; the cnn as its architecture, normaliser, precision and test-time views.
* ``tensors.pt``: every array those refer to, as plain tensors in one ``torch.save`` dict,
  read back with ``torch.load(..., weights_only=True)``: nothing is unpickled as an object.

A folder is written in full under a temporary name beside it, then renamed, so ``DIR`` never
holds a half-written model. Reading checks the format version and turns a damaged file into
a :class:`~featvslearn.errors.UserError` naming the fix.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featvslearn import __version__
from featvslearn.errors import UserError
from featvslearn.files import expand_user

FORMAT = "featvslearn-model"
FORMAT_VERSION = 1
"""The version of the files written here; reading refuses any other."""
MODEL_FILE = "model.json"
TENSORS_FILE = "tensors.pt"
SVM_SCORE = "SVM decision value of the predicted class"
CNN_SCORE = "softmax probability of the predicted class"
_ESTIMATOR_MODULES = ("featvslearn.classical.", "sklearn.")
"""The only modules a saved part's class may come from."""


def _resave(pipeline_folder: Path) -> str:
    """The fix for a model folder that cannot be read."""
    return f"save the models again with featvslearn compare --save {pipeline_folder.parent}"


@dataclass
class SavedPipeline:
    """A pipeline read back from its folder: ``parts`` hold its featuriser, standardiser and
    classifier (SVM pipelines) and/or ``cnn`` (a :class:`SavedCNN`); ``data`` its training data's
    description (``class_names``, ``image_shape`` [H, W, C], ``sizing``)."""

    name: str
    folder: Path
    data: dict[str, Any]
    score: str
    parts: dict[str, Any]


@dataclass
class SavedCNN:
    """A trained network ready to predict: the module (eval mode, on its device), its normaliser,
    autocast dtype (None: fp32), test-time views and whether they may flip."""

    model: Any
    normaliser: Any
    autocast_dtype: Any
    tta: int
    hflip: bool


# ----------------------------------------------------------------------------- checking the folder
def check_save_folder(folder: Path, option: str = "--save") -> Path:
    """Check, before any training, that models can be written in ``folder`` (created if missing,
    its parent must exist); returns it, resolved."""
    folder = expand_user(folder, option)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file; give a folder (it is created if missing)")
    if folder.is_dir():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"{option} {folder} is not writable; choose another folder")
        return folder.resolve()
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{option} {folder}: folder {parent} does not exist; create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {folder}: folder {parent} is not writable; choose another folder")
    return folder.resolve()


# ------------------------------------------------------------------------------------ encoding
class _Tensors:
    """The tensors a model's JSON refers to, by key."""

    def __init__(self, loaded: dict[str, Any] | None = None) -> None:
        self.by_key: dict[str, Any] = loaded or {}

    def add(self, value: Any) -> str:
        import torch

        key = str(len(self.by_key))
        self.by_key[key] = value.detach().cpu().clone() if isinstance(value, torch.Tensor) else torch.from_numpy(
            value.copy())
        return key

    def get(self, key: str) -> Any:
        if key not in self.by_key:
            raise ValueError(f"tensor {key!r} is missing")
        return self.by_key[key]


def _encode(value: Any, tensors: _Tensors, where: str) -> Any:
    """``value`` as JSON, its arrays and tensors put in ``tensors``; ``where`` names it in an error."""
    import numpy as np
    import torch
    from sklearn.base import BaseEstimator

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else {"float": str(float(value))}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, BaseEstimator):
        return {"estimator": encode_estimator(value, tensors, where)}
    if isinstance(value, torch.Tensor):
        return {"tensor": tensors.add(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return {"strings": value.tolist(), "shape": list(value.shape)}
        return {"array": tensors.add(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, tensors, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}}
    raise TypeError(f"{where}: cannot save a {type(value).__name__}")


def encode_estimator(estimator: Any, tensors: _Tensors, where: str = "estimator") -> dict[str, Any]:
    """A scikit-learn estimator as JSON: its class, ``get_params(deep=False)`` and every other
    attribute it holds (what ``fit`` set), nested estimators alike; device caches are left out."""
    params = estimator.get_params(deep=False)
    state = {name: value for name, value in vars(estimator).items()
             if name not in params and name != "_device_cache"}
    kind = type(estimator)
    return {"class": f"{kind.__module__}.{kind.__qualname__}",
            "params": {k: _encode(v, tensors, f"{where}.{k}") for k, v in params.items()},
            "state": {k: _encode(v, tensors, f"{where}.{k}") for k, v in state.items()}}


def _decode(value: Any, tensors: _Tensors, device: str | None) -> Any:
    """The inverse of :func:`_encode`; estimators with a ``device`` run on ``device`` when given."""
    import numpy as np

    if isinstance(value, list):
        return [_decode(v, tensors, device) for v in value]
    if not isinstance(value, dict):
        return value
    if "estimator" in value:
        return decode_estimator(value["estimator"], tensors, device)
    if "tensor" in value:
        return tensors.get(value["tensor"])
    if "array" in value:
        return tensors.get(value["array"]).numpy()
    if "strings" in value:
        return np.array(value["strings"]).reshape(value["shape"])
    if "tuple" in value:
        return tuple(_decode(v, tensors, device) for v in value["tuple"])
    if "float" in value:
        return float(value["float"])
    if "dict" in value:
        return {k: _decode(v, tensors, device) for k, v in value["dict"].items()}
    raise ValueError(f"unknown value {sorted(value)}")


def decode_estimator(tree: dict[str, Any], tensors: _Tensors, device: str | None = None) -> Any:
    """The estimator :func:`encode_estimator` wrote, rebuilt: its class (from featvslearn's classical
    side or scikit-learn only) made with its parameters, then its fitted attributes set."""
    from sklearn.base import BaseEstimator

    module, _, name = str(tree["class"]).rpartition(".")
    if not module.startswith(_ESTIMATOR_MODULES):
        raise ValueError(f"class {tree['class']!r} is not a featvslearn or scikit-learn estimator")
    kind = getattr(importlib.import_module(module), name)
    if not (isinstance(kind, type) and issubclass(kind, BaseEstimator)):
        raise ValueError(f"{tree['class']!r} is not an estimator")
    params = {k: _decode(v, tensors, device) for k, v in tree["params"].items()}
    if device is not None and isinstance(params.get("device"), str):
        params["device"] = device
    estimator = kind(**params)
    for key, value in tree["state"].items():
        setattr(estimator, key, _decode(value, tensors, device))
    return estimator


def _encode_cnn(trained: Any, tensors: _Tensors) -> dict[str, Any]:
    """A pipeline's ``TrainedCNN`` as JSON: architecture, weights, normaliser, precision, test-time views."""
    from featvslearn.device import dtype_name

    model = trained.eval_model
    return {
        "config": model.config.as_dict(),
        "weights": {key: tensors.add(value) for key, value in model.state_dict().items()},
        "normaliser": {"mean": tensors.add(trained.normaliser.mean), "std": tensors.add(trained.normaliser.std)},
        "precision": dtype_name(trained.settings.autocast_dtype),
        "trained_on": next(model.parameters()).device.type,
        "tta": int(trained.settings.tta),
        "hflip": bool(trained.hflip),
    }


def _decode_cnn(tree: dict[str, Any], tensors: _Tensors, device: Any) -> SavedCNN:
    """The network :func:`_encode_cnn` wrote, on ``device`` in eval mode. Its saved precision applies
    on the kind of device it was trained on; elsewhere it predicts in fp32."""
    import torch

    from featvslearn.learned.models import CNN, CNNConfig
    from featvslearn.learned.train import Normaliser

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in tree["config"].items()}
    model = CNN(CNNConfig(**config))
    model.load_state_dict({key: tensors.get(ref) for key, ref in tree["weights"].items()}, strict=True)
    model = model.to(device=device, memory_format=torch.channels_last).eval()
    normaliser = Normaliser(tensors.get(tree["normaliser"]["mean"]).to(device),
                            tensors.get(tree["normaliser"]["std"]).to(device))
    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    dtype = dtypes[tree["precision"]] if tree["trained_on"] == device.type else None
    return SavedCNN(model, normaliser, dtype, int(tree["tta"]), bool(tree["hflip"]))


# ------------------------------------------------------------------------------------- writing
def model_files(name: str, fitted: Any, data: dict[str, Any]) -> tuple[str, bytes]:
    """The two files of pipeline ``name``: ``model.json`` text and ``tensors.pt`` bytes. ``fitted``:
    what the pipeline left in a run's products (a ``TrainedCNN`` for cnn, else a ``FittedSVMPipeline``);
    ``data``: ``class_names``, ``image_shape`` and ``sizing`` (a dict or None) of its training set."""
    import torch

    tensors = _Tensors()
    if name == "cnn":
        parts, score = {"cnn": _encode_cnn(fitted, tensors)}, CNN_SCORE
    else:
        featuriser = fitted.featuriser
        parts = {"cnn": _encode_cnn(featuriser, tensors)} if hasattr(featuriser, "eval_model") else {
            "featuriser": encode_estimator(featuriser, tensors, "featuriser")}
        parts["standardiser"] = encode_estimator(fitted.standardiser, tensors, "standardiser")
        parts["classifier"] = encode_estimator(fitted.classifier, tensors, "classifier")
        score = SVM_SCORE
    model = {"format": FORMAT, "format_version": FORMAT_VERSION, "featvslearn_version": __version__,
             "pipeline": name, "score": score, "data": data, "parts": parts}
    buffer = io.BytesIO()
    torch.save(tensors.by_key, buffer)
    return json.dumps(model, indent=1, allow_nan=False) + "\n", buffer.getvalue()


def _write_folder(folder: Path, name: str, files: dict[str, bytes]) -> None:
    """Write ``files`` into ``folder / name`` whole: in a temporary folder beside it, then renamed
    over it (an earlier model of that name is replaced only once the new one is complete)."""
    target = folder / name
    temporary = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".saving", dir=folder))
    old = None
    try:
        for file_name, data in files.items():
            with open(temporary / file_name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(temporary, 0o755)
        if target.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".replaced", dir=folder))
            os.replace(target, old / name)
        os.replace(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        if old is not None and (old / name).is_dir() and not target.exists():
            os.replace(old / name, target)  # put the earlier model back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def save_models(folder: Path, products: dict[str, Any], pipelines: Sequence[str],
                data: dict[str, Any]) -> list[Path]:
    """Write each of ``pipelines`` found in ``products`` (a compare run's) to ``folder / <name>``;
    returns the folders written. Every model is encoded before any is written."""
    encoded = {name: model_files(name, products[name], data) for name in pipelines if name in products}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (text, tensors) in encoded.items():
            _write_folder(folder, name, {MODEL_FILE: text.encode("utf-8"), TENSORS_FILE: tensors})
    except OSError as exc:
        raise UserError(f"cannot write the models in {folder} ({exc.strerror or exc}); free some disk space or "
                        "choose another folder with --save") from None
    return [folder / name for name in encoded]


# ------------------------------------------------------------------------------------- reading
def saved_folders(folder: Path) -> list[Path]:
    """The pipeline folders of ``folder`` (each with a ``model.json``), by name; a missing folder or one
    without any is a :class:`UserError`."""
    folder = expand_user(folder, "MODELS_DIR")
    if not folder.exists():
        raise UserError(f"{folder} does not exist; save models there first with featvslearn compare --save {folder}")
    if not folder.is_dir():
        raise UserError(f"{folder} is a file; give the folder featvslearn compare --save wrote")
    found = sorted(path.parent for path in folder.glob(f"*/{MODEL_FILE}") if not path.parent.name.startswith("."))
    if not found:
        raise UserError(f"{folder} holds no saved models; save them there first with featvslearn compare --save "
                        f"{folder}")
    return found


def load_model(folder: Path, device: Any) -> SavedPipeline:
    """Read the pipeline saved in ``folder`` and rebuild it on ``device`` (a torch device)."""
    import torch

    path = folder / MODEL_FILE
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path} ({exc}); it is damaged: {_resave(folder)}") from None
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise UserError(f"{path} is not a featvslearn model file; {_resave(folder)}")
    version = model.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(f"{path} is in model format {version} (written by featvslearn "
                        f"{model.get('featvslearn_version', '?')}), but this featvslearn ({__version__}) reads format "
                        f"{FORMAT_VERSION}; use that featvslearn version, or {_resave(folder)}")
    try:
        loaded = torch.load(folder / TENSORS_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch reports a truncated or foreign file in several ways
        raise UserError(f"cannot read {folder / TENSORS_FILE} ({type(exc).__name__}); it is damaged or missing: "
                        f"{_resave(folder)}") from None
    try:
        if not isinstance(loaded, dict):
            raise ValueError("not a dict of tensors")
        tensors, parts = _Tensors(loaded), model["parts"]
        rebuilt: dict[str, Any] = {}
        if "cnn" in parts:
            rebuilt["cnn"] = _decode_cnn(parts["cnn"], tensors, device)
        for part in ("featuriser", "standardiser", "classifier"):
            if part in parts:
                rebuilt[part] = decode_estimator(parts[part], tensors, str(device))
        data = model["data"]
        data["class_names"], data["image_shape"] = list(data["class_names"]), [int(v) for v in data["image_shape"]]
        saved = SavedPipeline(str(model["pipeline"]), folder, data, str(model["score"]), rebuilt)
    except (KeyError, TypeError, ValueError, AttributeError, ImportError, RuntimeError) as exc:
        raise UserError(f"{folder} does not hold a model featvslearn can rebuild ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); {_resave(folder)}") from None
    return saved


def load_models(folder: Path, device: Any) -> list[SavedPipeline]:
    """Every pipeline saved in ``folder``, rebuilt on ``device``, in the registry's order."""
    from featvslearn.pipelines import PIPELINE_NAMES

    models = [load_model(path, device) for path in saved_folders(folder)]
    order = {name: index for index, name in enumerate(PIPELINE_NAMES)}
    return sorted(models, key=lambda m: (order.get(m.name, len(order)), m.name))

