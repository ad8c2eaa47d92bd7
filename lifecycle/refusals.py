"""The refusals of CONTRACT section 4, the one vocabulary callers branch on.

A refusal is raised by the pure lifecycle (lifecycle.gate), turned into a Temporal
`ApplicationError` of the same `type` by the workflows' validators, and into an HTTP status by
the API: who the person is (403), what does not exist (404), the gate's or phase's momentary
state (409). Malformed input is not a refusal: it is `InvalidInput` naming the field (422).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["FORBIDDEN", "NOT_FOUND", "REFUSAL_TYPES", "InvalidInput", "Refusal", "RefusalType"]

RefusalType = Literal[
    "RoleNotAllowed", "RoleNotHeld", "SeparationOfDuties", "PhaseNotStarted", "PhasePaused",
    "PhaseNotComplete", "MissionNotStarted", "NotAwaitingApproval", "GateDecided", "AlreadyVoted",
    "RoleAlreadyCounted", "StaleDigest", "NoCountedVote", "NotWaivable", "AlreadyWaived",
    "NoActiveWaiver", "CannotRedelegate", "NoActiveAssignment", "SamePlan", "UnknownGate",
    "UnknownPhase", "UnknownBenchmark", "MigrationInProgress",
]
REFUSAL_TYPES: frozenset[str] = frozenset(RefusalType.__args__)  # type: ignore[attr-defined]

# Refusals about who is acting: answered before anything about the gate, as 403.
FORBIDDEN: frozenset[str] = frozenset({"RoleNotAllowed", "RoleNotHeld", "SeparationOfDuties"})
NOT_FOUND: frozenset[str] = frozenset({"UnknownGate", "UnknownPhase", "UnknownBenchmark"})


class Refusal(Exception):
    """An act refused: nothing is recorded but the refusal itself (in the audit log)."""

    def __init__(self, type: RefusalType, message: str):
        super().__init__(message)
        self.type: RefusalType = type
        self.message = message


class InvalidInput(Exception):
    """Input that no state of the gate could make acceptable (an `until` already past): a bad
    request naming the field, not a refusal."""

    type = "InvalidInput"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = f"{field}: {message}"
