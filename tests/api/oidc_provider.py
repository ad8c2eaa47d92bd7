"""A real OpenID Connect provider on loopback for the sign-in tests: PyPI's oidc-provider-mock,
run as its own process (as an organisation's provider would be), on a free port.

It signs people in with a form where one types a subject (`sub`); a person's claims are
`{"email": sub}` unless a test sets them (`set_claims`). Anything that drives its pages in a
browser must keep the browser on loopback: its page template links a stylesheet on the web.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from cli.supervisor import free_port


@contextmanager
def oidc_provider(*, token_max_age_s: int = 3600) -> Iterator[str]:
    """The provider's issuer URL while it runs; ID tokens expire `token_max_age_s` after issue
    (negative: already expired when issued)."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    # A file, not a pipe: it logs every request, and a pipe nobody reads would fill and stall it.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1",
                                 "--port", str(port), f"--token-max-age={token_max_age_s}"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120  # a Python process importing authlib and flask; 30 s was too short at load 17
            while not _answers(issuer):
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    log.seek(0)
                    raise RuntimeError(f"oidc-provider-mock did not start: {log.read()[-2000:]}")
                time.sleep(0.05)
            yield issuer
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _answers(issuer: str) -> bool:
    try:
        return httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def set_claims(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    r = httpx.put(f"{issuer}/users/{sub}", json=claims, timeout=10)
    assert r.status_code == 204, r.text


async def authorize(issuer_client: httpx.AsyncClient, authorize_url: str, sub: str) -> str:
    """What a person does on the provider's page (sign in as `sub`): the callback URL it sends
    the browser back to."""
    r = await issuer_client.post(authorize_url, data={"sub": sub})
    assert r.status_code == 302, (r.status_code, r.text[:500])
    return r.headers["location"]
