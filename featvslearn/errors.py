"""The one exception type for mistakes a user can fix."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input; the message is one line that names the fix.

    The CLI turns it into that line on stderr and exit code 2, without a traceback.
    """


_NOT_VALUES = "is|are|has|must|needs|takes|was|and|or|to|of|only|not|with"

MAKE_VARIABLES_ENV = "FEATVSLEARN_MAKE_VARIABLES"
"""Set by the Makefile to ``"--device=DEVICE ..."``: the options its targets set from variables."""


def in_make_terms(message: str, variables: str | None) -> str:
    """``message`` with each option the Makefile sets from a variable written as that variable.

    ``variables`` is the value of :data:`MAKE_VARIABLES_ENV`, space-separated ``--option=VARIABLE``
    pairs, or None outside make. "--device 'cuda': …; use --device cpu" becomes
    "DEVICE=cuda: …; use DEVICE=cpu", so a workshop running ``make cifar10`` is told what to type.
    """
    import re

    for pair in (variables or "").split():
        option, _, variable = pair.partition("=")
        if not option.startswith("--") or not variable:
            continue
        # A value follows the option: quoted, after "=", or a bare word that is not ordinary English.
        with_value = re.compile(rf"{re.escape(option)}(?:=|\s(?!(?:{_NOT_VALUES})\b))'?([\w:,./~+-]+)'?(?![\w-])")
        message = with_value.sub(lambda match, name=variable: f"{name}={match.group(1)}", message)
        message = re.sub(rf"{re.escape(option)}(?![\w-])", variable, message)
    return message
