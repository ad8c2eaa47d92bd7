"""Sign-in to the approver page through the organisation's OpenID Connect provider.

Authorization code with PKCE (S256), through authlib's OAuth 2 client; the ID token is checked
with joserfc (authlib's JOSE library). The provider is found by discovery from the configured
issuer, whose document must name that same issuer. While the browser is away at the provider,
a short-lived signed cookie (api/ui.py) holds the pending sign-in: state, nonce and the PKCE
verifier. The callback is refused unless its state is that cookie's; the code is exchanged with
the verifier, and the ID token must be signed by a key of the provider's JWKS (fetched again
once when the keys kept do not verify it: providers rotate keys), issued by the issuer, for this
client, unexpired (a minute's leeway for clocks), and carry our nonce.

The person is the configured claim (EXITGATE_OIDC_PERSON_CLAIM), which must be a person id.
A sign-in identifies a person and carries no roles (CONTRACT section 5).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from schemas.models import ID_PATTERN

from .settings import ApiSettings

__all__ = ["LEEWAY_S", "BadSignature", "Expected", "Metadata", "Pending", "Provider", "SignInRefused", "SignedIn",
           "person_from_claims", "verify_id_token"]

LEEWAY_S = 60
# Asymmetric signatures only: with HS256 the key would be our client secret, and "none" is none.
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_PERSON = re.compile(ID_PATTERN)


class SignInRefused(Exception):
    """A sign-in that does not go through, with what the person reads on the page."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


class BadSignature(SignInRefused):
    """The signature does not verify with the keys at hand (which may be out of date)."""


@dataclass(frozen=True)
class Metadata:
    """What discovery told us of the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class Pending:
    """A sign-in under way: what the callback must match, and the PKCE verifier."""

    state: str
    nonce: str
    verifier: str

    def to_json(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier}

    @staticmethod
    def from_json(d: Any) -> Pending | None:
        if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("state", "nonce", "verifier")):
            return None
        return Pending(d["state"], d["nonce"], d["verifier"])


@dataclass(frozen=True)
class SignedIn:
    person: str
    id_token: str  # kept for the provider's sign-out (id_token_hint)


@dataclass(frozen=True)
class Expected:
    """What an ID token must say to sign someone in here."""

    issuer: str
    client_id: str
    nonce: str
    algorithms: tuple[str, ...] = ("RS256",)
    access_token: str | None = None  # checked against at_hash when the token has one


def verify_id_token(id_token: str, jwks: Mapping[str, Any], expected: Expected, *,
                    now: int | None = None, leeway: int = LEEWAY_S) -> dict[str, Any]:
    """The ID token's claims once its signature and claims are checked; `SignInRefused` naming
    what is wrong otherwise. `InvalidKeyIdError` passes through, and `BadSignature` is its own
    kind: the keys may be out of date, so the caller fetches the JWKS again and retries once."""
    issuer, client_id = expected.issuer, expected.client_id
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(dict(jwks)),  # type: ignore[arg-type]
                           algorithms=list(expected.algorithms))
    except InvalidKeyIdError:
        raise
    except BadSignatureError:
        raise BadSignature("The identity provider's ID token failed its signature check.") from None
    except JoseError as exc:
        raise SignInRefused(f"The identity provider's ID token could not be read ({exc.error}).") from None
    claims: dict[str, Any] = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=int(time.time()) if now is None else now, leeway=leeway,
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
        nonce={"essential": True, "value": expected.nonce})
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise SignInRefused("The identity provider's ID token has expired; please sign in again.") from None
    except MissingClaimError as exc:
        raise SignInRefused(f"The identity provider's ID token lacks the claim(s) {exc.claim}.") from None
    except ClaimError as exc:
        raise SignInRefused(_claim_problem(exc.claim, claims, issuer)) from None
    # Several audiences: the token must have been issued to us (OpenID Connect Core 3.1.3.7).
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise SignInRefused("The identity provider's ID token was issued to another client (azp).")
    at_hash = claims.get("at_hash")
    if at_hash is not None and expected.access_token is not None:
        half = create_half_hash(expected.access_token, token.header["alg"])
        if not isinstance(at_hash, str) or half is None or not hmac.compare_digest(at_hash.encode(), half):
            raise SignInRefused("The ID token does not belong to the access token sent with it (at_hash).")
    return claims


def _claim_problem(claim: str, claims: Mapping[str, Any], issuer: str) -> str:
    if claim == "iss":
        return f"The ID token was issued by {claims.get('iss')!r}, not by {issuer!r}."
    if claim == "aud":
        return "The ID token is meant for another client (aud), not this one."
    if claim == "nonce":
        return "The ID token's nonce is not this sign-in's; please sign in again."
    if claim in ("iat", "nbf"):
        return "The ID token is not valid yet (check the clocks of this server and the provider)."
    return f"The identity provider's ID token has an invalid claim {claim!r}."


def person_from_claims(claims: Mapping[str, Any], claim: str) -> str:
    """The person the claims name under `claim`, if it is a person id."""
    if claim not in claims:
        raise SignInRefused(
            f"The identity provider signed you in but sent no {claim!r} claim, which names the person "
            f"here (EXITGATE_OIDC_PERSON_CLAIM); ask the administrator to release it or choose another.", 403)
    value = claims[claim]
    if not isinstance(value, str) or not _PERSON.match(value) or value.endswith("\n"):
        raise SignInRefused(
            f"Your {claim!r} claim from the identity provider is {value!r}, which is not a person id here "
            f"(1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit); ask the "
            f"administrator to set EXITGATE_OIDC_PERSON_CLAIM to a claim that holds your person id.", 403)
    if claim == "email" and claims.get("email_verified") is False:
        raise SignInRefused(f"The identity provider has not verified the email {value!r}.", 403)
    return value


class Provider:
    """The configured provider: discovery and the JWKS fetched once, then kept."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self._metadata: Metadata | None = None
        self._jwks: dict[str, Any] | None = None

    def _http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=self.settings.oidc_timeout_s, follow_redirects=False)

    async def _get_json(self, url: str, what: str, **kw: Any) -> dict[str, Any]:
        try:
            async with self._http() as http:
                r = await http.get(url, **kw)
        except httpx2.HTTPError as exc:
            raise SignInRefused(f"The identity provider did not answer ({what}: {exc.__class__.__name__}); "
                                f"please try again later.", 503) from None
        if r.status_code != 200:
            raise SignInRefused(f"The identity provider answered {what} with HTTP {r.status_code}.", 502)
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise SignInRefused(f"The identity provider's {what} is not a JSON object.", 502)
        return doc

    async def metadata(self) -> Metadata:
        if self._metadata is None:
            configured = self.settings.oidc_issuer
            doc = await self._get_json(configured.rstrip("/") + "/.well-known/openid-configuration", "discovery")
            # OpenID Connect Discovery 4.3: the document must name the issuer we asked.
            if not isinstance(doc.get("issuer"), str) or doc["issuer"].rstrip("/") != configured.rstrip("/"):
                raise SignInRefused(f"The identity provider at {configured} names itself "
                                    f"{doc.get('issuer')!r}; check EXITGATE_OIDC_ISSUER.", 502)
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(field), str):
                    raise SignInRefused(f"The identity provider's discovery document has no {field}.", 502)
            pkce = doc.get("code_challenge_methods_supported")
            if isinstance(pkce, list) and "S256" not in pkce:
                raise SignInRefused("The identity provider does not offer PKCE with S256.", 502)
            offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
            self._metadata = Metadata(
                doc["issuer"], doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"],
                _opt_str(doc.get("userinfo_endpoint")), _opt_str(doc.get("end_session_endpoint")),
                tuple(a for a in _ALGORITHMS if a in offered),
                tuple(doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]))
        return self._metadata

    async def _keys(self, refresh: bool = False) -> dict[str, Any]:
        if self._jwks is None or refresh:
            self._jwks = await self._get_json((await self.metadata()).jwks_uri, "key set (JWKS)")
        return self._jwks

    def _client(self, md: Metadata) -> AsyncOAuth2Client:
        s = self.settings
        secret = s.oidc_client_secret.get_secret_value()
        method = "none" if not secret else (
            "client_secret_basic" if "client_secret_basic" in md.token_auth_methods else "client_secret_post")
        return AsyncOAuth2Client(client_id=s.oidc_client_id, client_secret=secret or None,
                                 token_endpoint_auth_method=method, scope=s.oidc_scopes,
                                 redirect_uri=s.oidc_redirect_url, code_challenge_method="S256",
                                 timeout=s.oidc_timeout_s)

    async def begin(self) -> tuple[str, Pending]:
        """Where to send the browser, and what its callback must match."""
        md = await self.metadata()
        pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
        async with self._client(md) as client:
            url, _ = client.create_authorization_url(md.authorization_endpoint, state=pending.state,
                                                     code_verifier=pending.verifier, nonce=pending.nonce)
        return str(url), pending

    async def finish(self, params: Mapping[str, str], pending: Pending | None) -> SignedIn:
        """The callback's query, checked against the pending sign-in; the person it signs in."""
        if pending is None:
            raise SignInRefused("This sign-in was not started here or took too long; please sign in again.", 400)
        if not hmac.compare_digest(params.get("state", ""), pending.state):
            raise SignInRefused("The sign-in's state does not match the one this browser started; "
                                "please sign in again.", 400)
        if "error" in params:
            detail = params["error"] + (f" ({params['error_description']})" if params.get("error_description") else "")
            raise SignInRefused(f"The identity provider did not sign you in: {detail}.", 401)
        code = params.get("code")
        if not code:
            raise SignInRefused("The identity provider sent no authorization code.", 400)
        md = await self.metadata()
        try:
            async with self._client(md) as client:
                token = await client.fetch_token(md.token_endpoint, code=code, code_verifier=pending.verifier)
        except OAuthError as exc:
            raise SignInRefused(f"The identity provider refused the sign-in code ({exc.error}).", 401) from None
        except httpx2.HTTPError as exc:
            raise SignInRefused(f"The identity provider did not answer (token: {exc.__class__.__name__}); "
                                f"please try again later.", 503) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("The identity provider sent no ID token (is 'openid' among the scopes?).", 502)
        access_token = token.get("access_token")
        claims = await self._verified(id_token, Expected(
            md.issuer, self.settings.oidc_client_id, pending.nonce, md.algorithms,
            access_token if isinstance(access_token, str) else None))
        claim = self.settings.oidc_person_claim
        if claim not in claims and md.userinfo_endpoint is not None:
            claims = await self._with_userinfo(claims, md.userinfo_endpoint, access_token)
        return SignedIn(person_from_claims(claims, claim), id_token)

    async def _verified(self, id_token: str, expected: Expected) -> dict[str, Any]:
        # Providers rotate keys, and a token without a key id names none we could miss: a
        # signature that fails under kept keys is tried once more under freshly fetched ones.
        try:
            return verify_id_token(id_token, await self._keys(), expected)
        except (InvalidKeyIdError, BadSignature):
            pass
        try:
            return verify_id_token(id_token, await self._keys(refresh=True), expected)
        except InvalidKeyIdError:
            raise SignInRefused("The ID token is signed with a key the identity provider does not publish.") from None

    async def _with_userinfo(self, claims: dict[str, Any], url: str, access_token: Any) -> dict[str, Any]:
        if not isinstance(access_token, str):
            return claims
        info = await self._get_json(url, "userinfo", headers={"Authorization": f"Bearer {access_token}"})
        # OpenID Connect Core 5.3.2: userinfo about anyone but the token's subject is not used.
        if info.get("sub") != claims["sub"]:
            raise SignInRefused("The identity provider's userinfo is about another subject.", 502)
        return {**info, **claims}

    async def end_session_url(self, id_token_hint: str | None) -> str | None:
        """Where to send the browser to sign out at the provider too, if it offers that."""
        try:
            md = await self.metadata()
        except SignInRefused:
            return None  # our session is ended already; the provider's sign-out is a courtesy
        if md.end_session_endpoint is None:
            return None
        params = {"client_id": self.settings.oidc_client_id,
                  "post_logout_redirect_uri": self.settings.oidc_after_sign_out}
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        sep = "&" if urlsplit(md.end_session_endpoint).query else "?"
        return f"{md.end_session_endpoint}{sep}{urlencode(params)}"


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None
