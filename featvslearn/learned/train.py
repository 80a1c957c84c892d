"""The CNN trainer: whole dataset on the device, batched augmentation, mixed precision, one-cycle.

The uint8 images live on the training device as one (N, C, H, W) tensor. Each batch is
normalised, randomly translated and (where the classes allow) flipped there, in one go,
with no per-sample Python and no DataLoader workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featvslearn.device import dtype_name

StepFn = Callable[[int, int, int], None]
"""Called after each optimiser step with (epoch, step in epoch, steps per epoch)."""


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one training run (reported with the results)."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    label_smoothing: float
    warmup_fraction: float
    translate_pixels: int
    hflip: bool
    seed: int
    autocast_dtype: torch.dtype | None = None
    preset: str = "standard"
    tta: int = 1
    ema_decay: float | None = None
    whiten: bool = True
    compile: bool = False

    def as_dict(self) -> dict[str, Any]:
        values = {k: v for k, v in self.__dict__.items() if k != "autocast_dtype"}
        return {**values, "precision": dtype_name(self.autocast_dtype)}


@dataclass(frozen=True)
class Preset:
    """A speed/accuracy trade-off: network width and epochs relative to the defaults, and TTA.

    ``tta``: 0 none, 1 flipped copies (where flips keep the class), 2 also one-pixel shifts.
    ``ema``: evaluate an exponential moving average of the weights.
    """

    width_multiplier: float
    epoch_multiplier: float
    tta: int
    ema: bool


PRESETS: dict[str, Preset] = {
    "quick": Preset(width_multiplier=0.5, epoch_multiplier=0.5, tta=0, ema=False),
    "standard": Preset(width_multiplier=1.0, epoch_multiplier=1.0, tta=1, ema=False),
    "best": Preset(width_multiplier=2.0, epoch_multiplier=2.0, tta=2, ema=True),
}


def default_epochs(n_train: int, device_type: str) -> int:
    """Epochs suited to the training-set size and the device.

    About 240k image passes on a CPU (4 epochs of 60k) and 1M on a GPU, within 4-40 and
    10-100 epochs respectively, so small datasets still get enough optimiser steps.
    The CPU figure is chosen on a Fashion-MNIST validation split by
    benchmarks/choose_defaults.py (docs/benchmarks.md); the GPU figure is not chosen there.
    """
    if device_type == "cuda":
        return int(np.clip(math.ceil(1_000_000 / max(n_train, 1)), 10, 100))
    return int(np.clip(math.ceil(240_000 / max(n_train, 1)), 4, 40))


def train_settings_for(n_train: int, image_side: int, device_type: str, hflip_ok: bool, seed: int,
                       epochs: int | None = None, autocast_dtype: torch.dtype | None = None,
                       preset: str = "standard", compile: bool = False) -> TrainSettings:
    """Training settings suited to the dataset, device and preset (``epochs`` overrides the default)."""
    chosen = PRESETS[preset]
    batch_size = int(np.clip(n_train // 16, 32, 512 if device_type == "cuda" else 256))
    if epochs is None:
        epochs = max(1, round(default_epochs(n_train, device_type) * chosen.epoch_multiplier))
    # Translation helps long schedules but costs accuracy in short ones (docs/benchmarks.md),
    # so it starts at 10 epochs.
    translate = 0 if epochs < 10 else 1 if image_side < 16 else 2
    return TrainSettings(
        epochs=epochs,
        batch_size=batch_size,
        lr=0.2 * batch_size / 256,
        momentum=0.9,
        weight_decay=5e-4,
        label_smoothing=0.1,
        warmup_fraction=0.2,
        translate_pixels=translate,
        hflip=hflip_ok,
        seed=seed,
        autocast_dtype=autocast_dtype,
        preset=preset,
        tta=chosen.tta,
        ema_decay=0.99 if chosen.ema else None,
        whiten=True,
        compile=compile,
    )


def images_to_device(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 images (N, H, W, C) -> uint8 tensor (N, C, H, W) in channels_last memory on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # (N, H, W, C)
    return x.permute(0, 3, 1, 2)  # (N, C, H, W), channels_last strides: no copy


@dataclass
class Normaliser:
    """Per-channel mean and standard deviation of the training images, in [0, 1] units."""

    mean: torch.Tensor  # (1, C, 1, 1)
    std: torch.Tensor  # (1, C, 1, 1)

    @classmethod
    def fit(cls, images: torch.Tensor) -> Normaliser:
        """Statistics of uint8 images (N, C, H, W), computed in chunks on their device."""
        total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
        total_sq = torch.zeros_like(total)
        for start in range(0, images.shape[0], 8192):
            chunk = images[start : start + 8192].double() / 255.0
            total += chunk.sum(dim=(0, 2, 3))
            total_sq += chunk.square().sum(dim=(0, 2, 3))
        count = images.shape[0] * images.shape[2] * images.shape[3]
        mean = total / count
        std = (total_sq / count - mean.square()).clamp(min=1e-12).sqrt()
        return cls(mean.float().view(1, -1, 1, 1), std.float().view(1, -1, 1, 1))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 batch (B, C, H, W) -> normalised float32 (B, C, H, W), channels_last."""
        x = batch.float().div_(255.0)
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)


def augment(x: torch.Tensor, translate: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``translate`` pixels (reflect padding) and random flips.

    x: (B, C, H, W) float on any device; every image gets its own shift and flip.
    """
    b, _, h, w = x.shape
    if translate > 0:
        padded = F.pad(x, (translate,) * 4, mode="reflect")  # (B, C, H + 2t, W + 2t)
        dy = torch.randint(0, 2 * translate + 1, (b,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * translate + 1, (b,), device=x.device, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
        batch_index = torch.arange(b, device=x.device)[:, None, None]  # (B, 1, 1)
        x = padded[batch_index, :, rows, cols].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
    if hflip:
        flip = torch.rand(b, device=x.device, generator=generator) < 0.5  # (B,)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x.contiguous(memory_format=torch.channels_last)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def whitening_filters(images: torch.Tensor, normaliser: Normaliser, kernel: int = 3, max_images: int = 5000,
                      eps: float = 5e-4) -> torch.Tensor:
    """Patch-whitening filters from the training images, strongest directions first.

    images: uint8 (N, C, H, W). Returns (2 * C * k * k, C, k, k): each eigenvector of the
    patch covariance scaled by 1 / sqrt(eigenvalue + eps), and its negation.
    """
    x = normaliser(images[:max_images]).float()  # (n, C, H, W)
    c = x.shape[1]
    patches = x.unfold(2, kernel, 1).unfold(3, kernel, 1)  # (n, C, H-k+1, W-k+1, k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel * kernel)  # (P, C*k*k)
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T.double()))  # ascending
    order = eigenvalues.argsort(descending=True)
    filters = (eigenvectors[:, order] / (eigenvalues[order] + eps).sqrt()).T  # (C*k*k, C*k*k), rows are filters
    filters = filters.reshape(-1, c, kernel, kernel).float()
    pairs = torch.stack([filters, -filters], dim=1)  # (D, 2, C, k, k): each direction and its negation
    return pairs.reshape(-1, c, kernel, kernel)


@torch.no_grad()
def whiten_first_layer(model: nn.Module, images: torch.Tensor, normaliser: Normaliser) -> int:
    """Set the first convolution's filters by patch whitening and fix them; returns how many were set.

    Works on any model whose first ``nn.Conv2d`` has an odd square kernel; the strongest
    whitening directions fill the first output channels, the rest keep their random start.
    The layer's weights are then no longer trained (``requires_grad`` off): the whitening
    already spans the patches' strongest directions (every direction of a grey 3x3 patch), and
    the filter gradient of a convolution with few input channels is slow to compute (fixed is as
    accurate and quicker on Fashion-MNIST; docs/benchmarks.md).
    """
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    filters = whitening_filters(images, normaliser, kernel=conv.kernel_size[0])
    count = min(conv.out_channels, filters.shape[0])
    conv.weight[:count] = filters[:count].to(conv.weight.device, conv.weight.dtype)
    conv.weight.requires_grad_(False)
    return count


def warm_up(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, normaliser: Normaliser,
            settings: TrainSettings) -> nn.Module:
    """Compile (with ``settings.compile``) and run one untimed forward and backward pass.

    Returns the module to train (compiled or not). The model's weights and batch-norm
    statistics are restored afterwards, so warm-up changes nothing but caches.
    """
    import copy

    trainable = torch.compile(model) if settings.compile else model
    snapshot = copy.deepcopy(model.state_dict())
    model.train()
    x = normaliser(images[: settings.batch_size])
    with _autocast(images.device, settings.autocast_dtype):
        loss = nn.functional.cross_entropy(trainable(x), labels[: settings.batch_size])
    loss.backward()
    model.zero_grad(set_to_none=True)
    model.load_state_dict(snapshot)
    return trainable


@dataclass
class TrainLog:
    """What happened during training: mean loss and wall seconds per epoch (the device's work
    finished), the loss of every step, and ``images_seen``: the training images actually
    processed (the ragged last batch of each epoch is dropped)."""

    loss_per_epoch: list[float] = field(default_factory=list)
    loss_per_step: list[float] = field(default_factory=list)
    seconds_per_epoch: list[float] = field(default_factory=list)
    test_accuracy_per_epoch: list[float] = field(default_factory=list)
    images_seen: int = 0
    ema_model: nn.Module | None = None
    stopped_early: bool = False


def train_cnn(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, normaliser: Normaliser,
              settings: TrainSettings, on_step: StepFn | None = None,
              on_epoch: Callable[[int, float, float | None], None] | None = None,
              trainable: nn.Module | None = None,
              evaluate: Callable[[nn.Module], float] | None = None,
              stop_after: Callable[[int, float], bool] | None = None) -> TrainLog:
    """Train ``model`` in place on uint8 ``images`` (N, C, H, W) and ``labels`` (N,).

    Nesterov SGD with a linear warm-up to ``settings.lr`` then linear decay to zero, label
    smoothing, weight decay on conv and linear weights only, autocast in
    ``settings.autocast_dtype`` (batch norm stays in fp32), and an exponential moving
    average of the weights when ``settings.ema_decay`` is set (returned as ``log.ema_model``).
    ``trainable`` is the module to call (``warm_up``'s compiled model); ``evaluate(model)``,
    if given, returns test accuracy after each epoch. ``stop_after(epochs done, seconds so far)``, if
    given, is asked after each epoch whether to stop there (a time budget spent): the network then
    keeps the weights of that epoch, and ``log.stopped_early`` is set. Epoch seconds are wall-clock seconds that end
    once the device's work for the epoch has finished (reading the epoch's loss waits for it), on
    every device. Returns the log: loss and seconds per epoch, and the
    training loss of every optimiser step (read from the device once per epoch).
    """
    import time

    trainable = trainable if trainable is not None else model
    device = images.device
    ema = None
    if settings.ema_decay is not None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(settings.ema_decay), use_buffers=True)
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    n = images.shape[0]
    steps_per_epoch = max(1, n // settings.batch_size)  # drop the ragged last batch
    total_steps = steps_per_epoch * settings.epochs
    trained = [p for p in model.parameters() if p.requires_grad]  # not a fixed whitening layer
    decay = [p for p in trained if p.ndim > 1]
    no_decay = [p for p in trained if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, momentum=settings.momentum, nesterov=True,
    )
    warmup = max(1, int(settings.warmup_fraction * total_steps))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    log = TrainLog()
    model.train()
    for epoch in range(settings.epochs):
        start = time.perf_counter()
        order = torch.randperm(n, device=device, generator=generator)
        loss_sum = torch.zeros((), device=device)
        step_losses = torch.zeros(steps_per_epoch, device=device)  # read once per epoch: no sync per step
        for step in range(steps_per_epoch):
            index = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            x = augment(normaliser(images[index]), settings.translate_pixels, settings.hflip, generator)
            with _autocast(device, settings.autocast_dtype):
                loss = loss_fn(trainable(x), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None and step % 5 == 4:
                ema.update_parameters(model)
            loss_sum += loss.detach().float()
            step_losses[step] = loss.detach().float()
            if on_step is not None:
                on_step(epoch, step + 1, steps_per_epoch)
        mean_loss = float(loss_sum) / steps_per_epoch  # reading the loss waits for the device's work
        log.seconds_per_epoch.append(time.perf_counter() - start)
        log.images_seen += min(n, steps_per_epoch * settings.batch_size)
        log.loss_per_epoch.append(mean_loss)
        log.loss_per_step += step_losses.tolist()
        accuracy = None
        if evaluate is not None:
            accuracy = evaluate(ema.module if ema is not None else model)
            log.test_accuracy_per_epoch.append(accuracy)
            model.train()
        if on_epoch is not None:
            on_epoch(epoch + 1, mean_loss, accuracy)
        if stop_after is not None and epoch + 1 < settings.epochs and stop_after(epoch + 1, sum(log.seconds_per_epoch)):
            log.stopped_early = True
            break
    log.ema_model = ema.module if ema is not None else None
    return log


def _tta_views(x: torch.Tensor, tta: int, hflip: bool) -> list[torch.Tensor]:
    """Test-time views of a normalised batch x (B, C, H, W): itself, its mirror, 1-pixel shifts."""
    views = [x]
    if tta >= 1 and hflip:
        views.append(x.flip(3))
    if tta >= 2:
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # (B, C, H + 2, W + 2)
        h, w = x.shape[2:]
        views += [padded[:, :, 0:h, 0:w], padded[:, :, 2 : h + 2, 2 : w + 2]]  # shifted down-right, up-left
    return [v.contiguous(memory_format=torch.channels_last) for v in views]


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, normaliser: Normaliser,
            autocast_dtype: torch.dtype | None, batch_size: int = 1024,
            features: bool = False, tta: int = 0, hflip: bool = False, logits: bool = False) -> torch.Tensor:
    """Predicted labels (N,), penultimate features (N, D) with ``features=True``, or the logits (N, K)
    float32 with ``logits=True`` (their argmax is the predicted label).

    ``images``: uint8 (N, C, H, W) on the model's device. With ``tta`` the logits (or
    features) of the test-time views (see ``_tta_views``) are averaged. Results stay on
    that device.
    """
    model.eval()
    device = images.device
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        x = normaliser(images[start : start + batch_size])
        with _autocast(device, autocast_dtype):
            views = _tta_views(x, tta, hflip)
            out = torch.stack([(model.features(v) if features else model(v)).float() for v in views]).mean(0)
        outputs.append(out if features or logits else out.argmax(dim=1))
    return torch.cat(outputs)
