"""CNN definitions only: a compact VGG-style network with batch norm that fits the image size.

The defaults are the network ``compare`` trains (ReLU, batch norm, no dropout); ``ablate``
varies the activation, batch norm, dropout and depth through the same config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class CNNConfig:
    """Shape of the network: input channels, classes, and one width per resolution stage.

    Each stage is ``convs_per_stage`` 3x3 conv-BN-ReLU layers (default two) followed by 2x2
    max pooling; a global average pool and a linear layer classify. With ``pool_before_norm``
    each stage's last convolution is pooled before its batch norm and activation (conv-pool-BN-ReLU),
    which leaves them a quarter of the values to process. ``dropout`` (a rate, 0 =
    none) applies before the classifier. ``activation`` is "relu", "tanh" or "sigmoid";
    without ``batch_norm`` each convolution has a bias instead of the normalisation.
    ``init`` is "torch" (torch's default: uniform weights with a third of the fan-in
    variance) or "matched" to the activation: He (Kaiming) normal for ReLU, Glorot (Xavier)
    uniform for tanh and sigmoid, zero biases.

    LeNet-style networks (see :func:`lenet_config`) set ``kernel_size`` 5, ``pooling`` "avg"
    or "max" and ``hidden`` fully connected widths: the last stage's maps are then flattened
    and pass through those layers (each with the activation, and batch norm if set) instead of
    a global average pool.
    """

    in_channels: int
    num_classes: int
    widths: tuple[int, ...]
    dropout: float = 0.0
    convs_per_stage: tuple[int, ...] = ()
    activation: str = "relu"
    batch_norm: bool = True
    init: str = "torch"
    kernel_size: int = 3
    pooling: str = "max"
    hidden: tuple[int, ...] = ()
    image_size: tuple[int, int] = (0, 0)
    pool_before_norm: bool = False

    def flat_features(self) -> int:
        """Values the last stage's maps hold per image: the input of the first hidden layer."""
        if min(self.image_size) < 1:
            raise ValueError("a network with hidden layers needs its image_size (H, W)")
        shrink = 2 ** len(self.widths)
        return self.widths[-1] * (self.image_size[0] // shrink) * (self.image_size[1] // shrink)

    def convs(self) -> tuple[int, ...]:
        """Convolutions in each stage."""
        return self.convs_per_stage or (2,) * len(self.widths)

    def depth(self) -> int:
        """Weight layers: every convolution, the hidden fully connected layers and the classifier."""
        return sum(self.convs()) + len(self.hidden) + 1

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {**asdict(self), "widths": list(self.widths), "convs_per_stage": list(self.convs()),
                "hidden": list(self.hidden), "image_size": list(self.image_size)}


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
INITS: tuple[str, ...] = ("torch", "matched")
POOLINGS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def lenet_config(image_shape: tuple[int, int, int], num_classes: int, activation: str = "tanh",
                 pooling: str = "avg", batch_norm: bool = False, dropout: float = 0.0,
                 convs_per_stage: int = 1) -> CNNConfig:
    """A LeNet-5-shaped network (LeCun et al., 1998) for (H, W, C) images.

    Two stages of 5x5 convolutions (6, then 16 maps; 'same' padding, so 28x28 images give 7x7
    maps) each followed by 2x2 pooling, then fully connected layers of 120 and 84 units and the
    classifier. LeNet-5 itself is tanh with average pooling; ``convs_per_stage`` above 1 stacks
    more convolutions of the same width in each stage (a deeper network of the same shape).
    Initialisation is matched to the activation.
    """
    height, width, channels = image_shape
    stages = 2 if min(height, width) >= 16 else 1
    return CNNConfig(in_channels=channels, num_classes=num_classes, widths=(6, 16)[:stages], dropout=dropout,
                     convs_per_stage=(convs_per_stage,) * stages, activation=activation, batch_norm=batch_norm,
                     init="matched", kernel_size=5, pooling=pooling, hidden=(120, 84), image_size=(height, width))


def cnn_config_for(image_shape: tuple[int, int, int], num_classes: int, device_type: str,
                   width_multiplier: float = 1.0) -> CNNConfig:
    """A network suited to (H, W, C) images and the device: lighter on a CPU.

    One convolution at full resolution (the patch-whitening layer the trainer sets and fixes),
    then stages of two, each stage pooled before its last batch norm. The stages halve the
    image while that leaves at least 3 pixels, from two stages to four (two at 8x8 and 16x16,
    three at 28x28 and 32x32, four from 48x48).
    Widths double per stage from 32 on a CPU and 64 on a GPU, times ``width_multiplier``
    (a preset's).
    """
    height, width, channels = image_shape
    side = min(height, width)
    stages = 0
    while side // 2**stages >= 6:  # another halving leaves at least 3 pixels
        stages += 1
    stages = min(max(stages, 2), 4, max(1, side.bit_length() - 1))  # a 2x2 or 3x3 image pools once
    # The shape and the CPU base width were chosen on a Fashion-MNIST validation split
    # (docs/benchmarks.md); the GPU base is not chosen there.
    base = max(8, round((64 if device_type == "cuda" else 32) * width_multiplier))
    widths = tuple(base * 2**i for i in range(stages))
    return CNNConfig(in_channels=channels, num_classes=num_classes, widths=widths,
                     convs_per_stage=(1,) + (2,) * (stages - 1), pool_before_norm=True)


def _activation(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else ACTIVATIONS[name]()


def _conv_block(cin: int, cout: int, activation: str, batch_norm: bool, kernel: int = 3) -> list[nn.Module]:
    """conv-BN-activation, or conv (with bias)-activation without batch norm; 'same' padding."""
    if batch_norm:
        return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout),
                _activation(activation)]
    return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2), _activation(activation)]


def _dense_block(fin: int, fout: int, activation: str, batch_norm: bool) -> list[nn.Module]:
    """linear-BN-activation, or linear (with bias)-activation without batch norm."""
    if batch_norm:
        return [nn.Linear(fin, fout, bias=False), nn.BatchNorm1d(fout), _activation(activation)]
    return [nn.Linear(fin, fout), _activation(activation)]


class CNN(nn.Module):
    """VGG-style CNN: stages of [conv-BN-ReLU x n, maxpool] (the pool before the stage's last BN
    with ``pool_before_norm``), global average pool, linear.

    The activation, batch norm, dropout, depth and initialisation follow ``config``.
    """

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        if config.activation not in ACTIVATIONS:
            raise ValueError(f"activation {config.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if config.init not in INITS:
            raise ValueError(f"init {config.init!r} is not one of {', '.join(INITS)}")
        if config.pooling not in POOLINGS:
            raise ValueError(f"pooling {config.pooling!r} is not one of {', '.join(POOLINGS)}")
        self.config = config
        layers: list[nn.Module] = []
        cin = config.in_channels
        for width, convs in zip(config.widths, config.convs(), strict=True):
            for index in range(convs):
                block = _conv_block(cin, width, config.activation, config.batch_norm, config.kernel_size)
                if config.pool_before_norm and index == convs - 1:
                    block.insert(1, POOLINGS[config.pooling](2))  # conv-pool-BN-activation
                layers += block
                cin = width
            if not config.pool_before_norm:
                layers.append(POOLINGS[config.pooling](2))
        self.body = nn.Sequential(*layers)
        dense: list[nn.Module] = []
        if config.hidden:  # flatten the last maps into fully connected layers, LeNet's way
            fin = config.flat_features()
            for width in config.hidden:
                dense += _dense_block(fin, width, config.activation, config.batch_norm)
                fin = width
            cin = fin
        self.dense = nn.Sequential(*dense)
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.head = nn.Linear(cin, config.num_classes)
        if config.init == "matched":
            self._init_matched()

    @torch.no_grad()
    def _init_matched(self) -> None:
        """He normal weights before ReLU, Glorot uniform before tanh and sigmoid; zero biases.

        The classifier keeps torch's default: it feeds the loss, not an activation.
        """
        for module in [*self.body.modules(), *self.dense.modules()]:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                if self.config.activation == "relu":
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, widths[-1] or hidden[-1]) of normalised images x (N, C, H, W)."""
        x = self.body(x)  # (N, widths[-1], H / 2^stages, W / 2^stages)
        if self.config.hidden:
            return self.dense(x.flatten(1))  # (N, hidden[-1])
        return x.mean(dim=(2, 3))  # (N, widths[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes) of normalised images x (N, C, H, W)."""
        return self.head(self.dropout(self.features(x)))


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_image(config: CNNConfig, height: int, width: int) -> int:
    """Multiply-adds x 2 of one forward pass through the convolutions, hidden layers and classifier."""
    flops = 0
    cin, h, w = config.in_channels, height, width
    for cout, convs in zip(config.widths, config.convs(), strict=True):
        for _ in range(convs):
            flops += 2 * config.kernel_size**2 * h * w * cin * cout
            cin = cout
        h, w = h // 2, w // 2
    if config.hidden:
        cin *= h * w
        for width in config.hidden:
            flops += 2 * cin * width
            cin = width
    return flops + 2 * cin * config.num_classes
