"""API keys in the store: shared by every API process, only hashes kept, create and revoke audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.keys import KeyCreationError, StoreKeyRegistry, UiSession
from store import Store


def test_keys_in_the_store(store: Store) -> None:
    reg = StoreKeyRegistry(store, actor="person:admin")
    key, alice = reg.create_person("alice")
    skey, sage = reg.create_system("sage", ["valdoria"], ["sage"])
    other = StoreKeyRegistry(store)  # another API process sees them at once
    assert other.verify(key) == alice and other.verify(skey) == sage
    assert other.by_id(alice.key_id) == alice
    assert {i.name for i in other.identities()} == {"alice", "sage"}
    assert other.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # wrong secret
    assert other.verify("eg_000000000000_" + "x" * 43) is None  # unknown id
    assert other.verify("not a key") is None
    assert key not in str(store.api_keys()) and alice.key_id in str(store.api_keys())

    assert reg.revoke(alice.key_id) and not reg.revoke(alice.key_id)
    assert other.verify(key) is None and other.by_id(alice.key_id) is None
    assert [i.name for i in other.identities()] == ["sage"]
    kinds = [(e.kind, e.actor) for e in store.audit_entries()]
    assert kinds == [("api_key.created", "person:admin"), ("api_key.created", "person:admin"),
                     ("api_key.revoked", "person:admin")]
    assert store.audit_verify().ok


def test_bad_key_requests_name_the_field(store: Store) -> None:
    reg = StoreKeyRegistry(store)
    with pytest.raises(KeyCreationError) as exc:
        reg.create_person("al ice")
    assert exc.value.field == "person"
    with pytest.raises(KeyCreationError) as exc:
        reg.create_system("sage", ["valdoria"], ["bad source!"])
    assert exc.value.field == "sources"
    assert store.api_keys() == [] and store.audit_entries() == []


@pytest.mark.parametrize("kind", ["store", "file"])
def test_approver_page_sessions_end_on_the_server(kind: str, store: Store, tmp_path: Path) -> None:
    from service.keys import KeyRegistry, Keys

    regs: tuple[Keys, Keys] = ((StoreKeyRegistry(store), StoreKeyRegistry(store)) if kind == "store" else
                               (KeyRegistry(tmp_path / "keys.json"), KeyRegistry(tmp_path / "keys.json")))
    reg, other = regs  # two API processes sharing the registry
    _, alice = reg.create_person("alice")
    sid = reg.open_session(alice.key_id, ends_at=2_000)
    assert other.session(sid, at=1_000) == UiSession(alice.key_id)
    assert other.session(sid, at=2_000) is None  # past its end
    assert other.session(sid + "x", at=1_000) is None
    assert sid not in (tmp_path / "keys.json").read_text() if kind == "file" else True  # only its hash is kept
    assert other.end_session(sid) is None
    assert reg.session(sid, at=1_000) is None  # ended for every process
    other.end_session(sid)  # ending twice is harmless


@pytest.mark.parametrize("kind", ["store", "file"])
def test_a_person_signed_in_through_the_provider_has_a_session_without_a_key(
        kind: str, store: Store, tmp_path: Path) -> None:
    from service.keys import KeyRegistry, Keys

    regs: tuple[Keys, Keys] = ((StoreKeyRegistry(store), StoreKeyRegistry(store)) if kind == "store" else
                               (KeyRegistry(tmp_path / "keys.json"), KeyRegistry(tmp_path / "keys.json")))
    reg, other = regs
    sid = reg.open_person_session("dana", ends_at=2_000, end_hint="id.token.here")
    assert other.session(sid, at=1_000) == UiSession(None, "dana", "id.token.here")
    assert other.end_session(sid) == "id.token.here"  # handed back once, for the provider's sign-out
    assert reg.session(sid, at=1_000) is None
    assert reg.end_session(sid) is None
    if kind == "file":
        assert "id.token.here" not in (tmp_path / "keys.json").read_text()  # not kept past the end
    else:
        with pytest.raises(ValueError, match="either a key or a person"):
            store.ui_session_add("h", 2_000, key_id="k", person="dana")
