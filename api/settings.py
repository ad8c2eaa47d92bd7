"""API settings from EXITGATE_* environment variables (and an optional .env)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from service.settings import ServiceSettings

__all__ = ["ApiSettings"]


class ApiSettings(ServiceSettings):
    environment: str = Field("local", description="local | production")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    # Signs the approver page's session cookie. Several API processes must share it, so a
    # per-process random default is only acceptable for local development.
    session_secret: SecretStr = SecretStr("")
    session_max_age_s: int = 8 * 3600
    cookie_secure: bool = False
    # Sign-in to the page through the organisation's OpenID Connect provider (docs/signin.md).
    # No issuer: people sign in with a personal API key instead.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")  # empty: a public client (PKCE alone)
    oidc_redirect_url: str = ""  # this API's /ui/oidc/callback as the browser reaches it
    oidc_person_claim: str = "email"
    oidc_scopes: str = "openid email profile"
    oidc_post_logout_redirect_url: str = ""  # default: /ui/login beside the redirect URL
    oidc_timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _secrets(self) -> ApiSettings:
        if not self.session_secret.get_secret_value():
            if self.environment != "local":
                raise ValueError("EXITGATE_SESSION_SECRET must be set outside local development")
            self.session_secret = SecretStr(secrets.token_urlsafe(32))
        if self.environment != "local" and not self.cookie_secure:
            raise ValueError("EXITGATE_COOKIE_SECURE must be true outside local development")
        return self

    @model_validator(mode="after")
    def _oidc(self) -> ApiSettings:
        if not self.oidc_issuer:
            return self
        for name in ("issuer", "redirect_url", "post_logout_redirect_url"):
            value = getattr(self, f"oidc_{name}")
            if value and not _web_url(value):
                raise ValueError(f"EXITGATE_OIDC_{name.upper()}: {value!r} is not an http(s) URL")
        if not self.oidc_client_id:
            raise ValueError("EXITGATE_OIDC_CLIENT_ID must be set when EXITGATE_OIDC_ISSUER is")
        if not self.oidc_redirect_url:
            raise ValueError("EXITGATE_OIDC_REDIRECT_URL must be set when EXITGATE_OIDC_ISSUER is "
                             "(this API's /ui/oidc/callback, as the browser reaches it)")
        if "openid" not in self.oidc_scopes.split():
            raise ValueError(f"EXITGATE_OIDC_SCOPES: {self.oidc_scopes!r} must include 'openid'")
        if not self.oidc_person_claim.strip():
            raise ValueError("EXITGATE_OIDC_PERSON_CLAIM must name a claim (email, preferred_username, ...)")
        if self.environment != "local" and urlsplit(self.oidc_issuer).scheme != "https":
            raise ValueError("EXITGATE_OIDC_ISSUER must be https outside local development")
        return self

    @property
    def oidc_after_sign_out(self) -> str:
        """Where the provider sends the browser back after signing out there."""
        if self.oidc_post_logout_redirect_url:
            return self.oidc_post_logout_redirect_url
        u = urlsplit(self.oidc_redirect_url)
        return f"{u.scheme}://{u.netloc}/ui/login"


def _web_url(value: str) -> bool:
    u = urlsplit(value)
    return u.scheme in ("http", "https") and bool(u.netloc)
