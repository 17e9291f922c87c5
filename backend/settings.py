"""ShakeLab's one settings object, read from `SHAKELAB_*` environment variables.

With nothing set, everything lives under `SHAKELAB_HOME` (default `~/.shakelab`): a SQLite database and
an embedded broker (kombu's filesystem transport), so one machine needs no service installed. Setting
`SHAKELAB_DATABASE_URL=postgresql+psycopg://...` and `SHAKELAB_BROKER_URL=redis://...` moves to servers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    # The environment only: no `.env` file is read, so docker compose's `.env` beside a checkout never
    # leaks into `make run` or the tests.
    model_config = SettingsConfigDict(env_prefix="SHAKELAB_", extra="ignore", frozen=True)

    home: Path = Field(Path("~/.shakelab"), description="state: database, broker folder, runs, data")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under home")
    broker_url: str | None = Field(None, description="Celery broker; default the embedded filesystem broker")
    data_dir: Path | None = Field(None, description="datasets; default home/data")
    download_datasets: bool = Field(True, description="a worker fetches a missing CIFAR before training; false "
                                                      "for machines without internet")
    runs_dir: Path | None = Field(None, description="checkpoints and metrics files; default home/runs")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_processes: int = Field(1, ge=1, le=64, description="processes serving the API on the port (uvicorn "
                                                          "workers): one per core for many readers at once")
    api_threads: int = Field(8, ge=1, le=256, description="threads per API process running the reads and writes "
                                                       "(each holds a database connection while it works)")
    api_key: str | None = Field(None, description="when set, state-changing requests need this bearer key")
    protect_reads: bool = Field(False, description="reads need the API key too (for shared networks)")
    # Comma-separated in the environment. A request naming any other Host gets 400 (DNS rebinding).
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Host names the API answers to besides localhost and 127.0.0.1; default: SHAKELAB_HOST")
    trusted_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="other origins (https://name:port) whose pages may change state")
    webhook_url: str | None = Field(None, description="Slack-compatible incoming webhook: a message when a run "
                                                       "succeeds, fails or diverges, and when a search ends")
    public_url: str | None = Field(None, description="the dashboard's address in alerts' links; default "
                                                     "http://SHAKELAB_HOST:SHAKELAB_PORT")
    queue: str = Field("shakelab", description="the Celery queue that carries 'run N is ready'")

    heartbeat_seconds: float = Field(5.0, gt=0, description="how often a worker marks its run alive")
    stale_after_seconds: float = Field(60.0, gt=0, description="a running run silent this long is requeued")
    max_attempts: int = Field(3, ge=1, description="worker losses after which a run ends failed")
    dispatch_interval_seconds: float = Field(2.0, gt=0, description="how often the API re-checks the queue")
    broker_timeout_seconds: float = Field(2.0, gt=0, description="connect timeout towards the broker")
    runs_per_gpu: int = Field(1, ge=1, le=16, description="runs one worker trains at once on its GPU")

    @field_validator("allowed_hosts", "trusted_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @model_validator(mode="after")
    def _reads_need_a_key(self):
        if self.protect_reads and not self.api_key:
            raise ValueError("SHAKELAB_PROTECT_READS needs SHAKELAB_API_KEY: reads are protected by that key")
        return self

    @property
    def resolved_allowed_hosts(self) -> list[str]:
        # The loopback names are always answered: a rebinding page's Host is its own name, never these, and
        # the container's healthcheck (docker/healthcheck.py) asks 127.0.0.1 whatever the setting lists.
        loopback = ["localhost", "127.0.0.1", "[::1]"]
        if self.allowed_hosts:
            return list(dict.fromkeys([*self.allowed_hosts, *loopback]))
        own = [] if self.host in ("0.0.0.0", "::", "") else [self.host]
        return list(dict.fromkeys([*own, *loopback]))

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

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
