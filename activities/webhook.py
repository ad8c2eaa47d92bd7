"""Notifications to an HTTP webhook, when a deployment names one (EXITGATE_NOTIFY_WEBHOOK_URL).

The notifications table is the record; the webhook is a copy pushed to people's tools (chat,
ticketing, e-mail gateways). Delivery is tried a few times inside the notify activity and its
outcome written on the row. It never fails the activity: a webhook that is down must not hold
up a phase's gates, and nothing is lost, since `exitgate notifications resend` sends again
what was not delivered. Receivers deduplicate on the Idempotency-Key header (a resend, or a
retried activity, repeats it) and may check X-Exitgate-Signature (HMAC-SHA256 of the body).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Webhook", "WebhookSettings", "notification_doc"]


def notification_doc(key: str | None, kind: str, mission: str, phase: str | None, gate: str | None,
                     message: str, payload: dict[str, Any], at: str) -> dict[str, Any]:
    """The JSON body a webhook receives (docs/workflows.md). Sent ones always have a key; a row
    stored before keys existed (listed by `exitgate notifications list`) has none."""
    return {"key": key, "kind": kind, "mission": mission, "phase": phase, "gate": gate,
            "message": message, "payload": payload, "at": at}


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str | None = None
    timeout_s: float = 5.0
    attempts: int = 3
    backoff_s: float = 1.0

    def headers(self, key: str, body: bytes) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "exitgate-notify"}
        if self.secret:
            h["X-Exitgate-Signature"] = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return h

    def post_once(self, key: str, body: bytes) -> str | None:
        """None when the receiver answered 2xx, else why not (one line)."""
        req = urllib.request.Request(self.url, data=body, headers=self.headers(key, body), method="POST")
        try:
            # The URL comes from settings, validated as http(s).
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status = resp.status
                text = ""
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read(200).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"{self.url}: connection failed: {reason}"
        if 200 <= status < 300:
            return None
        return f"{self.url}: HTTP {status}" + (f": {text.strip()}" if text.strip() else "")

    def deliver(self, doc: dict[str, Any]) -> str | None:
        """Up to `attempts` tries with doubling pauses; None once delivered, else the last error."""
        body = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()
        error: str | None = None
        for n in range(self.attempts):
            if n:
                time.sleep(self.backoff_s * 2 ** (n - 1))
            error = self.post_once(doc["key"], body)
            if error is None:
                return None
        return f"{error} (after {self.attempts} attempts)"


class WebhookSettings(BaseSettings):
    """EXITGATE_NOTIFY_WEBHOOK_URL and friends. Bounded so that every try fits well inside the
    notify activity's two-minute timeout."""

    model_config = SettingsConfigDict(env_prefix="EXITGATE_", env_file=".env", extra="ignore")

    notify_webhook_url: AnyHttpUrl | None = None
    notify_webhook_secret: SecretStr | None = None
    notify_webhook_timeout_s: float = Field(5.0, gt=0, le=20)
    notify_webhook_attempts: int = Field(3, ge=1, le=4)

    def webhook(self) -> Webhook | None:
        if self.notify_webhook_url is None:
            return None
        secret = self.notify_webhook_secret.get_secret_value() if self.notify_webhook_secret else None
        return Webhook(str(self.notify_webhook_url), secret, self.notify_webhook_timeout_s,
                       self.notify_webhook_attempts)
