"""Each pipeline's strongest configuration within a stated time budget, chosen from measured probes.

``compare --budget S`` gives every pipeline the same budget of S seconds for everything it does
after its warm-up (features, probes, fitting or training, and prediction): the lesson "each side
at its best within S seconds on this machine, now". Without ``--budget`` there is none, and every
choice is the pipeline's standard recipe, the same on a quiet and on a busy machine. A pipeline lists its
configurations strongest first (hog-svm: the RBF SVM with the most landmarks, fewer landmarks,
then the linear SVM; the CNN: its standard epochs, then fewer) and takes the strongest whose
estimated seconds fit in what is left. Estimates come from the dataset's size and a quick probe
timed on this device, never from test accuracy, and the probes count in the training time.
Options the user gave (``--svm``, ``--epochs``) are kept as given; the budget is then only
reported. The budget is a limit: no SVM fit starts that is estimated past it, and the CNN stops
before an epoch that, at the pace of its epochs so far, would run past it. This module is plain
Python: the probes themselves live with the pipelines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

MAX_BUDGET_SECONDS = 86_400.0
"""The largest budget ``--budget`` accepts: a day."""


@dataclass(frozen=True)
class Budget:
    """A budget in seconds per pipeline, and where it came from (``--budget`` or the default's reason)."""

    seconds: float
    source: str


@dataclass
class Choice:
    """What a pipeline chose within its budget, and why.

    ``estimates`` maps each configuration probed to its estimated seconds for the whole
    pipeline (what was spent before the choice plus what the configuration would add);
    ``chosen`` is a short name for the table, ``reason`` one plain sentence for the report.
    """

    budget_seconds: float
    budget_source: str
    chosen: str
    reason: str
    estimates: dict[str, float] = field(default_factory=dict)
    probe_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _of(seconds: float, budget: Budget) -> str:
    """``50 s of the 60 s budget``."""
    return f"{seconds_text(seconds)} s of the {seconds_text(budget.seconds)} s budget"


def strongest_within(budget: Budget, options: Sequence[T], name: Callable[[T], str],
                     estimate: Callable[[T], float], spent: Callable[[], float],
                     at_least: Callable[[T, T, float], float] | None = None) -> tuple[T, Choice]:
    """The strongest of ``options`` (listed strongest first, each costlier than the next) estimated to
    fit in ``budget``, with the record of the choice.

    ``estimate(option)`` probes ``option`` and returns the seconds the rest of the pipeline would
    take with it; ``spent()`` the seconds the pipeline has used so far, probes included. Options are
    probed from the quickest up, and probing stops at the first that does not fit: a stronger one
    costs more still. ``at_least(option, weaker, weaker_rest)``, when given, bounds an option's rest
    from below by the probe of the next weaker one; an option whose bound does not fit is not probed.
    The strongest option that fits once every probe is paid for is taken; when none does, the quickest,
    and the reason says so.
    """
    if not options:
        raise ValueError("no configuration to choose from")
    rank = {name(option): i for i, option in enumerate(options)}
    rests: dict[str, float] = {}
    estimates: dict[str, float] = {}
    skipped = ""
    fitting: list[T] = []
    for option in reversed(options):
        if fitting and at_least is not None:
            weaker = fitting[-1]
            bound = spent() + at_least(option, weaker, rests[name(weaker)])
            if bound > budget.seconds:
                skipped = (f"{name(option)} was not probed: the probe of {name(weaker)} puts it at "
                           f"{seconds_text(bound)} s or more")
                break
        rests[name(option)] = estimate(option)
        estimates[name(option)] = spent() + rests[name(option)]
        if estimates[name(option)] > budget.seconds:
            break
        fitting.append(option)
    for option in reversed(fitting):  # the strongest first, with every probe now paid for
        total = spent() + rests[name(option)]
        if total <= budget.seconds:
            others = [f"{n} was estimated at {seconds_text(s)} s" for n, s in estimates.items()
                      if rank[n] < rank[name(option)]]  # the stronger ones probed
            why = "; ".join([f"estimated {_of(total, budget)}", *others, *([skipped] if skipped else [])])
            if option is options[0]:
                why = f"the strongest configuration; {why}"
            return option, Choice(budget.seconds, budget.source, name(option), why, estimates)
    last = name(options[-1])
    why = (f"the quickest configuration: none fits the {seconds_text(budget.seconds)} s budget (this one was "
           f"estimated at {seconds_text(spent() + rests[last])} s)")
    return options[-1], Choice(budget.seconds, budget.source, last, why, estimates)


def epochs_within(budget: Budget, standard: int, epoch_seconds: float, spent: float, rest: float) -> tuple[int, Choice]:
    """The CNN's epochs within ``budget``: its ``standard`` epochs when they fit, else as many whole
    epochs as fit (at least one). Never more than the standard: one epoch more was within a tie of it on
    a Fashion-MNIST validation split (docs/benchmarks.md).

    ``epoch_seconds`` is the probe's estimate of one epoch, ``spent`` the seconds used so far
    (probe included) and ``rest`` the estimated seconds after training (the test set's predictions).
    """
    def total(epochs: int) -> float:
        return spent + epochs * epoch_seconds + rest

    per_epoch = f"{seconds_text(epoch_seconds)} s an epoch"
    estimates = {epochs_text(standard): total(standard)}
    if total(standard) <= budget.seconds:
        why = f"its standard schedule; estimated {_of(total(standard), budget)} ({per_epoch})"
        return standard, Choice(budget.seconds, budget.source, epochs_text(standard), why, estimates)
    fitting = max(1, min(standard - 1, math.floor((budget.seconds - spent - rest) / epoch_seconds)))
    estimates[epochs_text(fitting)] = total(fitting)
    over = "" if total(fitting) <= budget.seconds else "; even one epoch is over the budget"
    why = (f"the standard {epochs_text(standard)} were estimated at {seconds_text(total(standard))} s, over the "
           f"{seconds_text(budget.seconds)} s budget ({per_epoch}); {epochs_text(fitting)} "
           f"{'was' if fitting == 1 else 'were'} estimated at {seconds_text(total(fitting))} s{over}")
    return fitting, Choice(budget.seconds, budget.source, epochs_text(fitting), why, estimates)


def epochs_text(epochs: int) -> str:
    """``1 epoch``, ``4 epochs``: how the budget's records name a number of epochs."""
    return f"{epochs:,} epoch{'' if epochs == 1 else 's'}"


def seconds_text(seconds: float) -> str:
    """Seconds as the report writes them: ``240``, ``1,234``; ``2.5`` below ten, ``0.25`` below one."""
    return f"{seconds:,.0f}" if seconds >= 10 else f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2f}"


def only(budget: Budget, name: str, why: str) -> Choice:
    """The record for the only configuration there is (nothing to probe)."""
    return Choice(budget.seconds, budget.source, name, why)


def given(budget: Budget, option: str, value: str) -> Choice:
    """The record for a configuration the user gave (``--svm rbf``, ``--epochs 5``): kept as given."""
    return Choice(budget.seconds, budget.source, value, f"given by {option}; the budget is only reported")
