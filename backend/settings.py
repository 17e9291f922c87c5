"""ShakeLab's one settings object, read from `SHAKELAB_*` environment variables.

With nothing set, everything lives under `SHAKELAB_HOME` (default `~/.shakelab`): a SQLite database and
an embedded broker (kombu's filesystem transport), so one machine needs no service installed. Setting
`SHAKELAB_DATABASE_URL=postgresql+psycopg://...` and `SHAKELAB_BROKER_URL=redis://...` moves to servers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    # The environment only: no `.env` file is read, so docker compose's `.env` beside a checkout never
    # leaks into `make run` or the tests.
    model_config = SettingsConfigDict(env_prefix="SHAKELAB_", extra="ignore", frozen=True)

    home: Path = Field(Path("~/.shakelab"), description="state: database, broker folder, runs, data")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under home")
    broker_url: str | None = Field(None, description="Celery broker; default the embedded filesystem broker")
    data_dir: Path | None = Field(None, description="datasets; default home/data")
    runs_dir: Path | None = Field(None, description="checkpoints and metrics files; default home/runs")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: str | None = Field(None, description="when set, state-changing requests need this bearer key")
    queue: str = Field("shakelab", description="the Celery queue that carries 'run N is ready'")

    heartbeat_seconds: float = Field(5.0, gt=0, description="how often a worker marks its run alive")
    stale_after_seconds: float = Field(60.0, gt=0, description="a running run silent this long is requeued")
    max_attempts: int = Field(3, ge=1, description="worker losses after which a run ends failed")
    dispatch_interval_seconds: float = Field(2.0, gt=0, description="how often the API re-checks the queue")
    broker_timeout_seconds: float = Field(2.0, gt=0, description="connect timeout towards the broker")
    runs_per_gpu: int = Field(1, ge=1, le=16, description="runs one worker trains at once on its GPU")

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'shakelab.db'}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def embedded_broker(self) -> bool:
        return self.resolved_broker_url.startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        return self.home_dir / "broker"

    @property
    def resolved_data_dir(self) -> Path:
        return (self.data_dir or self.home_dir / "data").expanduser()

    @property
    def resolved_runs_dir(self) -> Path:
        return (self.runs_dir or self.home_dir / "runs").expanduser()

    def run_dir(self, run_id: int) -> Path:
        return self.resolved_runs_dir / str(run_id)


@lru_cache
def get_settings() -> Settings:
    return Settings()
