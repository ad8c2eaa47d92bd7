"""API settings from EXITGATE_* environment variables (and an optional .env)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXITGATE_", env_file=".env", extra="ignore")

    environment: str = Field("local", description="local | production")
    data_dir: Path = Path(".exitgate")
    api_keys_file: Path | None = Field(None, description="JSON key registry; default <data_dir>/api-keys.json")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    # Signs the approver page's session cookie. Several API processes must share it, so a
    # per-process random default is only acceptable for local development.
    session_secret: SecretStr = SecretStr("")
    session_max_age_s: int = 8 * 3600
    cookie_secure: bool = False
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    @model_validator(mode="after")
    def _secrets(self) -> ApiSettings:
        if not self.session_secret.get_secret_value():
            if self.environment != "local":
                raise ValueError("EXITGATE_SESSION_SECRET must be set outside local development")
            self.session_secret = SecretStr(secrets.token_urlsafe(32))
        if self.environment != "local" and not self.cookie_secure:
            raise ValueError("EXITGATE_COOKIE_SECURE must be true outside local development")
        return self

    @property
    def keys_path(self) -> Path:
        return self.api_keys_file or self.data_dir / "api-keys.json"
