"""The evidence store and audit log (SQLModel; SQLite by default, PostgreSQL in production)."""

from .audit import AuditEntry, VerifyResult
from .core import Store, StoreError, now_us
from .settings import StoreSettings

__all__ = ["AuditEntry", "Store", "StoreError", "StoreSettings", "VerifyResult", "now_us"]
