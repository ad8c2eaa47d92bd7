"""The gate lifecycle (CONTRACT section 4) as one pure state machine, and its refusals.

Imports only `schemas`; the workflows pass it through Temporal's sandbox (it is deterministic
and holds no state of its own), and the service reads the same checks and refusal types."""

from .refusals import FORBIDDEN, NOT_FOUND, REFUSAL_TYPES, InvalidInput, Refusal, RefusalType

__all__ = ["FORBIDDEN", "NOT_FOUND", "REFUSAL_TYPES", "InvalidInput", "Refusal", "RefusalType"]
