"""What a trained CNN's first trained layer holds and sees, as arrays for a picture.

The network's first convolution may be fixed (patch-whitening filters set from the training images
and never trained: :func:`featvslearn.learned.train.whiten_first_layer`); :func:`first_trained_layer`
finds the first convolution whose weights were trained, and returns its filters, the fixed filters
whose maps it reads, and its strongest feature maps for some images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from featvslearn.learned.models import ACTIVATIONS
from featvslearn.learned.train import Normaliser, images_to_device


@dataclass(frozen=True)
class FirstTrainedLayer:
    """A network's first trained convolution (see :class:`featvslearn.results.pictures.CNNPictures`)."""

    layer: int  # its number among the network's convolutions, from 1
    convolutions: int
    filters: np.ndarray  # (out, in, kh, kw) float32
    fixed_filters: np.ndarray | None  # (in, C, k, k) float32: the fixed first convolution it reads, if any
    maps: np.ndarray  # (M, K, h, w) float32, the strongest channels after its batch norm and activation
    channels: tuple[int, ...]


@torch.no_grad()
def first_trained_layer(model: nn.Module, normaliser: Normaliser, images: np.ndarray,
                        strongest: int = 6) -> FirstTrainedLayer | None:
    """The first convolution of ``model`` whose weights were trained (``requires_grad``), and the
    ``strongest`` channels of its output (after the batch norm and activation that follow it) of
    highest mean activation over ``images`` (M, H, W, C) uint8; None when no convolution was trained.

    The network runs in float32 in evaluation mode on its own device; its weights are not changed.
    """
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    index = next((i for i, conv in enumerate(convs) if conv.weight.requires_grad), None)
    if index is None:
        return None
    conv = convs[index]
    modules = list(model.modules())
    after = modules[modules.index(conv) + 1:]
    activation = next((m for m in after if isinstance(m, tuple(ACTIVATIONS.values()))), conv)
    fixed = convs[0] if index == 1 else None  # the trained layer reads the first one's maps
    captured: list[torch.Tensor] = []
    hook = activation.register_forward_hook(lambda module, inputs, output: captured.append(output.float().clone()))
    training = model.training
    device = conv.weight.device
    try:
        model.eval()
        x = normaliser(images_to_device(images, device))  # (M, C, H, W) float32
        model(x)
    finally:
        hook.remove()
        model.train(training)
    maps = captured[0]  # (M, out, h, w)
    channels = maps.mean(dim=(0, 2, 3)).argsort(descending=True)[:strongest]  # (K,)
    return FirstTrainedLayer(
        layer=index + 1,
        convolutions=len(convs),
        filters=conv.weight.detach().float().cpu().numpy(),
        fixed_filters=None if fixed is None else fixed.weight.detach().float().cpu().numpy(),
        maps=maps[:, channels].cpu().numpy(),  # (M, K, h, w)
        channels=tuple(int(c) for c in channels),
    )
