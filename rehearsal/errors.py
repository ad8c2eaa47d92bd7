"""What stops a rehearsal that cannot go on."""

from __future__ import annotations

__all__ = ["RehearsalFailed"]


class RehearsalFailed(RuntimeError):
    """The rehearsal could not go on (the server held its clock, work never finished, or the
    product answered something no refusal explains): the message says what and where."""
