"""The ID token verifier and the person claim, on tokens made here with a key generated here:
what the test provider will not produce (a tampered payload, another key, another audience...)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet, OctKey, RSAKey
from pydantic import ValidationError

from api.oidc import Expected, SignInRefused, person_from_claims, verify_id_token
from api.settings import ApiSettings

ISSUER, CLIENT, NONCE = "https://id.example.org", "exitgate", "n-123"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same key id, not the same key
JWKS = KeySet([KEY]).as_dict(private=False)
EXPECTED = Expected(ISSUER, CLIENT, NONCE)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": CLIENT, "sub": "u-1", "iat": now, "exp": now + 300, "nonce": NONCE,
            "email": "dana"}
    return {k: v for k, v in {**base, **over}.items() if v is not None}


def sign(c: dict[str, Any], key: Any = KEY, alg: str = "RS256", kid: str | None = "k1") -> str:
    header = {"alg": alg} | ({"kid": kid} if kid else {})
    return jwt.encode(header, c, key)


def refused(token: str, expected: Expected = EXPECTED, **kw: Any) -> str:
    with pytest.raises(SignInRefused) as exc:
        verify_id_token(token, JWKS, expected, **kw)
    return exc.value.message


def test_a_good_token_gives_its_claims() -> None:
    assert verify_id_token(sign(claims()), JWKS, EXPECTED)["email"] == "dana"
    assert verify_id_token(sign(claims(aud=[CLIENT, "other"], azp=CLIENT)), JWKS, EXPECTED)["sub"] == "u-1"


def test_a_tampered_payload_fails_the_signature_check() -> None:
    head, _, sig = sign(claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(email="alice")).encode()).rstrip(b"=").decode()
    assert "signature" in refused(f"{head}.{forged}.{sig}")


def test_a_token_signed_with_another_key_is_refused() -> None:
    assert "signature" in refused(sign(claims(), OTHER))


def test_an_unknown_key_id_is_left_to_the_caller_to_fetch_the_keys_again() -> None:
    with pytest.raises(InvalidKeyIdError):
        verify_id_token(sign(claims(), kid="k2"), JWKS, EXPECTED)


def test_unsigned_and_symmetric_tokens_are_refused() -> None:
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    assert "could not be read" in refused(f"{head}.{body}.")
    # HS256 keyed with what an attacker knows (the public key's modulus, say) must not pass.
    assert "could not be read" in refused(sign(claims(), OctKey.import_key(b"k" * 32), "HS256", None))
    assert "could not be read" in refused("not.a.token")


@pytest.mark.parametrize(("over", "says"), [
    ({"iss": "https://evil.example.org"}, "issued by 'https://evil.example.org'"),
    ({"aud": "someone-else"}, "another client (aud)"),
    ({"aud": [CLIENT, "other"]}, "another client (azp)"),
    ({"nonce": "replayed"}, "nonce is not this sign-in's"),
    ({"nonce": None}, "lacks the claim(s) nonce"),
    ({"exp": int(time.time()) - 3600}, "has expired"),
    ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "not valid yet"),
    ({"sub": None}, "lacks the claim(s) sub"),
])
def test_claims_that_do_not_fit_are_refused_saying_which(over: dict[str, Any], says: str) -> None:
    assert says in refused(sign(claims(**over)))


def test_leeway_covers_small_clock_differences_only() -> None:
    now = int(time.time())
    verify_id_token(sign(claims(exp=now - 30)), JWKS, EXPECTED)  # within the minute's leeway
    assert "expired" in refused(sign(claims(exp=now - 30)), leeway=0)


def test_at_hash_binds_the_token_to_its_access_token() -> None:
    from authlib.oidc.core.util import create_half_hash

    good = create_half_hash("access-1", "RS256").decode()
    with_hash = sign(claims(at_hash=good))
    verify_id_token(with_hash, JWKS, Expected(ISSUER, CLIENT, NONCE, access_token="access-1"))
    assert "at_hash" in refused(with_hash, Expected(ISSUER, CLIENT, NONCE, access_token="access-2"))


@pytest.mark.parametrize(("c", "says"), [
    ({"sub": "u"}, "sent no 'email' claim"),
    ({"email": "dana@example.org"}, "'dana@example.org', which is not a person id here"),
    ({"email": 7}, "7, which is not a person id"),
    ({"email": "dana\n"}, "not a person id"),
    ({"email": "dana", "email_verified": False}, "has not verified the email 'dana'"),
])
def test_the_person_claim_must_be_a_person_id(c: dict[str, Any], says: str) -> None:
    with pytest.raises(SignInRefused) as exc:
        person_from_claims(c, "email")
    assert says in exc.value.message and exc.value.status == 403


def test_the_person_comes_from_the_configured_claim() -> None:
    assert person_from_claims({"email": "x@y", "preferred_username": "dana"}, "preferred_username") == "dana"
    assert person_from_claims({"email": "dana", "email_verified": True}, "email") == "dana"


@pytest.mark.parametrize(("env", "says"), [
    ({"oidc_issuer": "http://127.0.0.1:1"}, "EXITGATE_OIDC_CLIENT_ID must be set"),
    ({"oidc_issuer": "http://127.0.0.1:1", "oidc_client_id": "c"}, "EXITGATE_OIDC_REDIRECT_URL must be set"),
    ({"oidc_issuer": "id.example.org", "oidc_client_id": "c"}, "EXITGATE_OIDC_ISSUER: 'id.example.org' is not"),
    ({"oidc_issuer": "http://127.0.0.1:1", "oidc_client_id": "c", "oidc_redirect_url": "http://x/cb",
      "oidc_scopes": "email"}, "must include 'openid'"),
    ({"oidc_issuer": "http://id.example.org", "oidc_client_id": "c", "oidc_redirect_url": "https://x/cb",
      "environment": "production", "session_secret": "s", "cookie_secure": True}, "must be https"),
])
def test_provider_settings_are_checked_naming_the_variable(env: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ApiSettings(**env)
    assert says in str(exc.value)


def test_sign_out_returns_to_the_sign_in_page_beside_the_callback_by_default() -> None:
    s = ApiSettings(oidc_issuer="http://127.0.0.1:1", oidc_client_id="c",
                    oidc_redirect_url="https://gate.example.org/ui/oidc/callback")
    assert s.oidc_after_sign_out == "https://gate.example.org/ui/login"
