"""Settings the service's callers share (EXITGATE_* environment variables, optional .env):
where the data lives, which key registry a deployment checks, where the API listens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from store import Store

    from .keys import Keys

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXITGATE_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".exitgate")
    api_keys_file: Path | None = Field(None, description="a JSON key registry file instead of the store's "
                                                         "api_keys table (one API process, or a shared disk)")
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    def key_registry(self, store: Store) -> Keys:
        """The keys this deployment checks: the store's table unless a file is named."""
        from .keys import KeyRegistry, StoreKeyRegistry

        if self.api_keys_file is not None:
            return KeyRegistry(self.api_keys_file)
        return StoreKeyRegistry(store)
