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


# Each default variant's lr_factor (the trainer's rate times 1, 0.5, 0.25 or 0.1, whichever has the best
# validation accuracy; within 0.002 of it, the factor nearest 1) is chosen on a Fashion-MNIST validation
# split by benchmarks/choose_defaults.py: 3,000 fit and 1,000 validation images drawn from the training
# set, 6 epochs, seed 0. ablate uses these factors on every dataset; ablation.LR_RULE says so in its
# results. The variants not run by default keep the trainer's rate, untried.
ABLATION_VARIANTS: dict[str, AblationVariant] = {v.name: v for v in (
    AblationVariant("relu-bn", "relu", batch_norm=True),  # the baseline: compare's network
    AblationVariant("relu-bn-dropout", "relu", batch_norm=True, dropout=0.5),
    AblationVariant("relu-plain", "relu", batch_norm=False, lr_factor=0.5),
    AblationVariant("tanh-plain", "tanh", batch_norm=False),
    AblationVariant("sigmoid-plain", "sigmoid", batch_norm=False),
    AblationVariant("relu-deep-plain", "relu", batch_norm=False, deep=True, lr_factor=0.25),
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
