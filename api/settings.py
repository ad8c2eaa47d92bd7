"""API settings from EXITGATE_* environment variables (and an optional .env)."""

from __future__ import annotations

import secrets

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

    @model_validator(mode="after")
    def _secrets(self) -> ApiSettings:
        if not self.session_secret.get_secret_value():
            if self.environment != "local":
                raise ValueError("EXITGATE_SESSION_SECRET must be set outside local development")
            self.session_secret = SecretStr(secrets.token_urlsafe(32))
        if self.environment != "local" and not self.cookie_secure:
            raise ValueError("EXITGATE_COOKIE_SECURE must be true outside local development")
        return self
