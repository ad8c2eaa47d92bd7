"""Store settings from the environment (and an optional .env), with embedded-mode defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXITGATE_", env_file=".env", extra="ignore")

    database_url: str | None = None
    data_dir: Path = Path(".exitgate")
    # Records a worker keeps in warm evidence indexes, over all missions (store/warm.py);
    # about 100 bytes each (docs/scaling.md). 0: every gate read goes to the database.
    evidence_cache_records: int = 2_000_000

    @property
    def url(self) -> str:
        """PostgreSQL in production (`postgresql+psycopg://...`); a SQLite file by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'exitgate.sqlite').resolve()}"
