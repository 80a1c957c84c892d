"""The CNN variants ``featvslearn ablate`` can train, by name: plain values, no torch import."""

from __future__ import annotations

from dataclasses import dataclass

from featvslearn.errors import UserError


@dataclass(frozen=True)
class AblationVariant:
    """One network that ``ablate`` trains, all of LeNet-5's shape (see ``models.lenet_config``).

    ``activation`` (relu, tanh or sigmoid), ``batch_norm``, ``dropout`` (a rate, 0 = none) and
    ``pooling`` (max, or avg as in LeNet-5) vary; ``deep`` stacks four convolutions per stage
    instead of one (11 weight layers instead of 5); "plain" in a name means no normalisation.
    ``train_size`` (None: the run's) trains the variant on that many of the run's training images,
    a stratified seeded draw: the small-data variants.
    """

    name: str
    activation: str
    batch_norm: bool
    dropout: float = 0.0
    deep: bool = False
    pooling: str = "max"
    train_size: int | None = None


SMALL_TRAIN_SIZE = 1_000
"""Training images of the small-data variants, where dropout's effect shows."""

ABLATION_VARIANTS: dict[str, AblationVariant] = {v.name: v for v in (
    AblationVariant("lenet5", "tanh", batch_norm=False, pooling="avg"),  # LeCun et al., 1998
    AblationVariant("sigmoid-plain", "sigmoid", batch_norm=False),
    AblationVariant("tanh-plain", "tanh", batch_norm=False),
    AblationVariant("relu-plain", "relu", batch_norm=False),
    AblationVariant("relu-bn", "relu", batch_norm=True),
    AblationVariant("sigmoid-deep-plain", "sigmoid", batch_norm=False, deep=True),
    AblationVariant("relu-deep-bn", "relu", batch_norm=True, deep=True),
    AblationVariant("relu-bn-small", "relu", batch_norm=True, train_size=SMALL_TRAIN_SIZE),
    AblationVariant("relu-bn-dropout-small", "relu", batch_norm=True, dropout=0.5, train_size=SMALL_TRAIN_SIZE),
    # not run by default
    AblationVariant("relu-bn-dropout", "relu", batch_norm=True, dropout=0.5),
    AblationVariant("tanh-bn", "tanh", batch_norm=True),
    AblationVariant("sigmoid-bn", "sigmoid", batch_norm=True),
    AblationVariant("relu-deep-plain", "relu", batch_norm=False, deep=True),
    AblationVariant("tanh-deep-plain", "tanh", batch_norm=False, deep=True),
    AblationVariant("sigmoid-deep-bn", "sigmoid", batch_norm=True, deep=True),
)}
"""Variants ``ablate`` can train, by name."""

ABLATION_TRAIN_SIZE = 10_000
"""Training images ``ablate`` draws (stratified, seeded) when ``--train-size`` is not given and there are more."""

DEFAULT_ABLATION_VARIANTS: tuple[str, ...] = (
    "lenet5", "sigmoid-plain", "tanh-plain", "relu-plain", "relu-bn", "sigmoid-deep-plain", "relu-deep-bn",
    "relu-bn-small", "relu-bn-dropout-small",
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
