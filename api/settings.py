"""API settings from EXITGATE_* environment variables (and an optional .env)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from store import Store

    from .keys import Keys

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXITGATE_", env_file=".env", extra="ignore")

    environment: str = Field("local", description="local | production")
    data_dir: Path = Path(".exitgate")
    api_keys_file: Path | None = Field(None, description="a JSON key registry file instead of the store's "
                                                         "api_keys table (one API process, or a shared disk)")
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

    def key_registry(self, store: Store) -> Keys:
        """The keys this deployment checks: the store's table unless a file is named."""
        from .keys import KeyRegistry, StoreKeyRegistry

        if self.api_keys_file is not None:
            return KeyRegistry(self.api_keys_file)
        return StoreKeyRegistry(store)
