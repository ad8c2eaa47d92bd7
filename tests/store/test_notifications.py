"""Notifications in the store, on SQLite and PostgreSQL: one row per key whatever the retries,
the webhook's outcome on the row, and `exitgate notifications list|resend` against a real
HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from activities.webhook import Webhook, WebhookSettings
from store import Store
from tests.webhook_receiver import webhook_receiver

from .conftest import Databases

ROOT = Path(__file__).resolve().parents[2]


def test_a_key_stores_one_row_and_outcomes_are_kept(store: Store) -> None:
    first = store.notify("reminder", "m1", "p1", "g1", "gate g1 awaits approval", {"n": 1}, key="wf/run/7")
    again = store.notify("reminder", "m1", "p1", "g1", "gate g1 awaits approval", {"n": 1}, key="wf/run/7")
    assert again == first and len(store.notifications("m1")) == 1
    assert store.notifications("m1") == [first] and first.payload == {"n": 1} and first.key == "wf/run/7"
    store.notify("escalation", "m1", "p1", "g1", "escalated", key="wf/run/9")
    store.notify("reminder", "m2", "p1", "g1", "no key: always a new row")
    assert [n.key for n in store.notifications(undelivered=True)] == ["wf/run/7", "wf/run/9"]

    store.notification_delivered("wf/run/7", "http://x/: HTTP 503")
    store.notification_delivered("wf/run/7", None)
    store.notification_delivered("wf/run/7", "a late failure")  # never hides the delivery
    row = store.notification("wf/run/7")
    assert row is not None and row.delivered_at is not None and row.delivery_error is None
    assert [n.key for n in store.notifications(undelivered=True)] == ["wf/run/9"]
    with pytest.raises(LookupError, match="no notification with key 'nope'"):
        store.notification_delivered("nope", None)


def test_webhook_posts_signed_json_and_reports_failures() -> None:
    with webhook_receiver() as rec:
        hook = Webhook(rec.url, secret="s3cret", attempts=2, backoff_s=0.01)
        doc = {"key": "k1", "kind": "reminder", "message": "é"}
        assert hook.deliver(doc) is None
        headers, body, raw = rec.received[0]
        assert body == doc and headers["idempotency-key"] == "k1"
        assert headers["x-exitgate-signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        rec.status = 503
        assert hook.deliver(doc) == f"{rec.url}: HTTP 503: busy (after 2 attempts)"
        assert rec.refused == 2
    closed = Webhook(rec.url, attempts=1, timeout_s=1).deliver(doc)
    assert closed is not None and "connection failed" in closed


def test_settings_name_the_bad_field() -> None:
    with pytest.raises(ValidationError, match="notify_webhook_url"):
        WebhookSettings(notify_webhook_url="ftp://example.invalid/hook")
    with pytest.raises(ValidationError, match="notify_webhook_attempts"):
        WebhookSettings(notify_webhook_url="http://127.0.0.1:9/", notify_webhook_attempts=50)
    assert WebhookSettings(notify_webhook_url=None).webhook() is None


def _cli(url: str, *args: str, hook: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXITGATE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("EXITGATE_NOTIFY_WEBHOOK_URL", None)
    if hook is not None:
        env["EXITGATE_NOTIFY_WEBHOOK_URL"] = hook
    return subprocess.run([sys.executable, "-m", "cli", "notifications", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_resend_delivers_what_the_webhook_missed(databases: Databases, open_store: Callable[..., Store]) -> None:
    # The command's own behaviour, once: the store under it is covered on both backends above.
    store_url = databases.url("sqlite")
    store = open_store(store_url)
    store.notify("reminder", "m1", "p1", "g1", "gate g1 awaits approval", {"n": 1}, key="wf/run/1")
    store.notify("escalation", "m1", "p1", "g1", "gate g1 escalated", {}, key="wf/run/2")
    store.notification_delivered("wf/run/2", None)
    no_hook = _cli(store_url, "resend")
    assert no_hook.returncode == 2 and "EXITGATE_NOTIFY_WEBHOOK_URL is not set" in no_hook.stderr
    bad = _cli(store_url, "resend", hook="not a url")
    assert bad.returncode == 2 and "notify_webhook_url" in bad.stderr, bad.stderr
    with webhook_receiver() as rec:
        rec.status = 500
        down = _cli(store_url, "resend", hook=rec.url)
        assert down.returncode == 1 and "HTTP 500" in down.stderr and "0 delivered, 1 not delivered" in down.stdout
        row = store.notification("wf/run/1")
        assert row is not None and row.delivered_at is None and "HTTP 500" in (row.delivery_error or "")
        rec.status = 200
        up = _cli(store_url, "resend", hook=rec.url)
        assert up.returncode == 0 and "1 delivered, 0 not delivered" in up.stdout, up.stdout + up.stderr
        assert [(h["idempotency-key"], b["kind"], b["payload"]) for h, b, _ in rec.received] == [
            ("wf/run/1", "reminder", {"n": 1})]
        assert _cli(store_url, "resend", hook=rec.url).stdout.strip().endswith("0 delivered, 0 not delivered")
    listed = [json.loads(line) for line in _cli(store_url, "list", "--json").stdout.splitlines()]
    assert [(n["key"], n["delivered_at"] is not None) for n in listed] == [("wf/run/1", True), ("wf/run/2", True)]
    assert _cli(store_url, "list", "--undelivered", "--json").stdout == ""


def test_worker_refuses_a_bad_webhook_url_before_connecting() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXITGATE_NOTIFY_WEBHOOK_URL": "not a url",
           "EXITGATE_TEMPORAL_ADDRESS": "127.0.0.1:9"}  # nothing listens there: it must not get that far
    r = subprocess.run([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "bad settings" in r.stderr and "notify_webhook_url" in r.stderr, r.stderr
