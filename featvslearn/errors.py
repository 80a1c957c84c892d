"""The one exception type for mistakes a user can fix."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input; the message is one line that names the fix.

    The CLI turns it into that line on stderr and exit code 2, without a traceback.
    """
