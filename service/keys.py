"""API keys: random tokens stored only as sha256 hashes, each tied to one identity.

A key reads `eg_<key id>_<secret>`. The key id lets us find the entry without comparing
against every hash; the comparison itself is constant-time. Two kinds of identity:

- a *person* (approver, coordinator): the key says who they are, never what they may do; that
  comes from each mission's role register alone (CONTRACT section 5, service/register.py);
- a *system* that may submit evidence for some missions and only from some sources.

Two registries with one interface (`Keys`): `StoreKeyRegistry`, the store's `api_keys` table,
which every API process of a deployment shares (the default of `exitgate api` and
`exitgate api-key`); and `KeyRegistry`, in memory or in a JSON file (mode 0600, re-read when it
changes on disk) when EXITGATE_API_KEYS_FILE names one. Either way a key made or revoked with
`exitgate api-key` takes effect in a running API at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from schemas.models import ID_PATTERN

if TYPE_CHECKING:
    from store import Store

    from .errors import Caller

__all__ = ["Identity", "KeyCreationError", "KeyRegistry", "Keys", "StoreKeyRegistry", "UiSession", "hash_key"]

_KEY = re.compile(r"^eg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_ID = re.compile(ID_PATTERN)


class KeyCreationError(ValueError):
    """A key cannot be created as asked (names the field)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    key_id: str
    kind: Literal["person", "system"]
    name: str  # the person's id or the system's id
    missions: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """Who this is in the audit log: a person by name (as the workflows write them), a
        system as `system:<name>`."""
        return self.name if self.kind == "person" else f"system:{self.name}"

    @property
    def caller(self) -> Caller:
        from .errors import Caller

        return Caller(self.name, self.kind)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "kind": self.kind, "name": self.name, "missions": sorted(self.missions),
                "sources": sorted(self.sources)}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Identity:
        # Keys made before the role register may list roles: they are ignored (what a person may
        # do comes from the register alone).
        return Identity(d["key_id"], d["kind"], d["name"], frozenset(d.get("missions", ())),
                        frozenset(d.get("sources", ())))


@dataclass(frozen=True)
class UiSession:
    """An open approver page session: opened with a personal key (`key_id`), or for a person
    signed in through the identity provider (`person`, and the provider's ID token as
    `end_hint`, for signing out there too). Exactly one of key_id and person is set."""

    key_id: str | None
    person: str | None = None
    end_hint: str | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_ids(field: str, values: list[str], *, allow_empty: bool = False) -> frozenset[str]:
    if not values and not allow_empty:
        raise KeyCreationError(field, "give at least one")
    for v in values:
        if not _ID.match(v) or v.endswith("\n"):
            raise KeyCreationError(field, f"{v!r} is not a valid id")
    return frozenset(values)


class Keys(Protocol):
    def create_person(self, person: str) -> tuple[str, Identity]: ...

    def create_system(self, system: str, missions: list[str], sources: list[str]) -> tuple[str, Identity]: ...

    def revoke(self, key_id: str) -> bool: ...

    def identities(self) -> list[Identity]: ...

    def by_id(self, key_id: str) -> Identity | None: ...

    def verify(self, key: str) -> Identity | None: ...

    # Approver page sessions, ended on the server: a cookie copied before sign-out is dead after.
    def open_session(self, key_id: str, ends_at: int) -> str: ...

    def open_person_session(self, person: str, ends_at: int, end_hint: str | None = None) -> str: ...

    def session(self, session_id: str, at: int) -> UiSession | None: ...

    def end_session(self, session_id: str) -> str | None:
        """End it; the end hint it had (None for a key's session, or one already ended)."""
        ...


def _new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(6)
    return key_id, f"eg_{key_id}_{secrets.token_urlsafe(32)}"


def _matches(key: str, entry_hash: str | None) -> bool:
    # Compare even when the id is unknown, so timing does not tell which ids exist.
    return hmac.compare_digest(hash_key(key), entry_hash or "0" * 64) and entry_hash is not None


def _new_session() -> tuple[str, str]:
    """A session id for the cookie, and the hash that is all a registry keeps of it."""
    sid = secrets.token_urlsafe(32)
    return sid, hash_key(sid)


class _Checked:
    """Both registries check a request the same way before creating the key."""

    def create_person(self, person: str) -> tuple[str, Identity]:
        _check_ids("person", [person])
        return self._create("person", person)

    def create_system(self, system: str, missions: list[str], sources: list[str]) -> tuple[str, Identity]:
        _check_ids("system", [system])
        return self._create("system", system, missions=_check_ids("missions", missions),
                            sources=_check_ids("sources", sources))

    def _create(self, kind: Literal["person", "system"], name: str, **kw: frozenset[str]) -> tuple[str, Identity]:
        raise NotImplementedError


def _session_from_json(v: list[Any]) -> tuple[UiSession, int]:
    # [key id, ends at] in files written before sign-in through a provider; then with person and hint.
    person, hint = (v[2], v[3]) if len(v) >= 4 else (None, None)
    return UiSession(v[0], person, hint), int(v[1])


class KeyRegistry(_Checked):
    """Keys in memory, optionally persisted to a JSON file."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, tuple[str, Identity]] = {}  # key id -> (hash, identity)
        self._sessions: dict[str, tuple[UiSession, int]] = {}  # session id hash -> (session, ends at)
        self._mtime: int | None = None
        self._reload()

    def _reload(self) -> None:
        if self.path is None or not self.path.exists():
            return
        mtime = self.path.stat().st_mtime_ns
        if mtime == self._mtime:
            return
        doc = json.loads(self.path.read_text())
        self._entries = {e["identity"]["key_id"]: (e["hash"], Identity.from_json(e["identity"]))
                         for e in doc.get("keys", ())}
        self._sessions = {h: _session_from_json(v) for h, v in doc.get("sessions", {}).items()}
        self._mtime = mtime

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"keys": [{"hash": h, "identity": ident.to_json()} for h, ident in self._entries.values()],
               "sessions": {h: [u.key_id, end, u.person, u.end_hint] for h, (u, end) in self._sessions.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns

    def _create(self, kind: Literal["person", "system"], name: str, **kw: frozenset[str]) -> tuple[str, Identity]:
        self._reload()
        key_id, key = _new_key()
        ident = Identity(key_id, kind, name, **kw)
        self._entries[key_id] = (hash_key(key), ident)
        self._save()
        return key, ident

    def revoke(self, key_id: str) -> bool:
        self._reload()
        found = self._entries.pop(key_id, None) is not None
        self._save()
        return found

    def identities(self) -> list[Identity]:
        self._reload()
        return [ident for _, ident in self._entries.values()]

    def by_id(self, key_id: str) -> Identity | None:
        self._reload()
        entry = self._entries.get(key_id)
        return entry[1] if entry else None

    def verify(self, key: str) -> Identity | None:
        self._reload()
        m = _KEY.match(key)
        entry = self._entries.get(m.group(1)) if m else None
        return entry[1] if _matches(key, entry[0] if entry else None) and entry else None

    def open_session(self, key_id: str, ends_at: int) -> str:
        return self._open(UiSession(key_id), ends_at)

    def open_person_session(self, person: str, ends_at: int, end_hint: str | None = None) -> str:
        return self._open(UiSession(None, person, end_hint), ends_at)

    def _open(self, session: UiSession, ends_at: int) -> str:
        self._reload()
        now = int(time.time() * 1_000_000)
        # Sessions past their end are dropped here, so the file does not grow with every sign-in.
        self._sessions = {h: v for h, v in self._sessions.items() if v[1] > now}
        sid, digest = _new_session()
        self._sessions[digest] = (session, ends_at)
        self._save()
        return sid

    def session(self, session_id: str, at: int) -> UiSession | None:
        self._reload()
        found = self._sessions.get(hash_key(session_id))
        return found[0] if found is not None and found[1] > at else None

    def end_session(self, session_id: str) -> str | None:
        self._reload()
        found = self._sessions.pop(hash_key(session_id), None)
        if found is None:
            return None
        self._save()
        return found[0].end_hint


class StoreKeyRegistry(_Checked):
    """Keys in the store's `api_keys` table; creating and revoking one is audited."""

    def __init__(self, store: Store, actor: str = "cli"):
        self.store = store
        self.actor = actor

    def _create(self, kind: Literal["person", "system"], name: str, **kw: frozenset[str]) -> tuple[str, Identity]:
        key_id, key = _new_key()
        ident = Identity(key_id, kind, name, **kw)
        self.store.api_key_add(key_id, hash_key(key), ident.to_json(), self.actor)
        return key, ident

    def revoke(self, key_id: str) -> bool:
        return self.store.api_key_revoke(key_id, self.actor)

    def identities(self) -> list[Identity]:
        return [Identity.from_json(d) for d in self.store.api_keys()]

    def by_id(self, key_id: str) -> Identity | None:
        found = self.store.api_key_get(key_id)
        return Identity.from_json(found[1]) if found else None

    def verify(self, key: str) -> Identity | None:
        m = _KEY.match(key)
        found = self.store.api_key_get(m.group(1)) if m else None
        return Identity.from_json(found[1]) if _matches(key, found[0] if found else None) and found else None

    def open_session(self, key_id: str, ends_at: int) -> str:
        sid, digest = _new_session()
        self.store.ui_session_add(digest, ends_at, key_id=key_id)
        return sid

    def open_person_session(self, person: str, ends_at: int, end_hint: str | None = None) -> str:
        sid, digest = _new_session()
        self.store.ui_session_add(digest, ends_at, person=person, end_hint=end_hint)
        return sid

    def session(self, session_id: str, at: int) -> UiSession | None:
        found = self.store.ui_session_get(hash_key(session_id), at)
        return UiSession(*found) if found is not None else None

    def end_session(self, session_id: str) -> str | None:
        return self.store.ui_session_end(hash_key(session_id))
