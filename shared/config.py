"""The one typed settings object; nothing else reads the environment."""
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TREADLE_", extra="ignore")

    # Unset URLs make the `treadle` command serve that part itself (shared/platform/embedded.py)
    # and hand its URL to the processes it starts; these defaults serve code that reads the
    # settings without the command, such as an external WSGI server importing api.wsgi.
    database_url: str = "postgresql://postgres@127.0.0.1:5432/treadle"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Celery's broker; the Redis above when unset (amqp://... for RabbitMQ).
    broker_url: str | None = None
    data_dir: Path = Path(".treadle")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 2
    # Connections one API process serves at once; each open event stream holds one. The
    # process needs a file descriptor limit (ulimit -n) above this.
    api_worker_connections: int = 10_000
    # Writes one API process works on at once (shared/platform/turns.py); the others wait
    # their turn, so reads are never queued behind a burst of creates. Reads take no turn.
    api_write_turns: int = 4
    # A comment line goes down every quiet event stream this often, well under proxies' idle
    # timeouts, so neither they nor clients take a slow run's stream for dead.
    stream_keepalive_seconds: float = 5.0
    # A client that sends nothing of its request body for this long gets a 408 and its
    # connection closed, so stalled uploads do not hold connections.
    api_body_timeout_seconds: float = 30.0

    # How long an API process trusts a key it has checked; a revoked key stops working
    # within this many seconds.
    key_cache_seconds: float = 5.0

    db_pool_min: int = 1
    db_pool_max: int = 20
    # How long a caller waits for a pooled connection while Postgres is away: the API
    # answers 503 after this, and a timer tick gives up.
    db_pool_timeout_seconds: float = 1.0
    # How long it waits while Postgres answers but every connection is busy (a burst of
    # requests on a loaded machine): a queue, not an outage.
    db_pool_busy_timeout_seconds: float = 30.0
    # A runs worker's thousands of runs share its pool: one finding every connection busy
    # waits its turn (statements are short), and gives up only after Postgres has been away
    # this long, when the run is abandoned for recovery.
    runs_db_pool_timeout_seconds: float = 60.0
    # Redis connections a runs worker's runs share (they wait for a free one, never fail).
    runs_redis_connections: int = 64

    model_base_url: str = "http://127.0.0.1:11434/v1"
    model_api_key: str = "unused"
    model_timeout_seconds: float = 120.0
    model_max_retries: int = 2

    run_expiry_seconds: int = 600
    run_lease_seconds: int = 15
    # Runs one runs worker holds at once, each a greenlet waiting on its model stream.
    runs_concurrency: int = 2000
    # Runs worker processes `treadle up` starts.
    runs_processes: int = 2
    # After SIGTERM, how long a runs worker lets its runs go on before handing them back.
    worker_shutdown_grace_seconds: float = 5.0
    # Set by `treadle up` for the processes it supervises: they stop when it is gone.
    supervised: bool = False
    events_ttl_seconds: int = 24 * 3600
    poll_after_ms: int = 25

    # The vector engine: a Qdrant server when set, else the embedded engine in data_dir.
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    # An OpenAI-compatible embeddings endpoint when set, else the local model.
    embeddings_base_url: str | None = None
    embeddings_api_key: str = "unused"
    embeddings_model: str = "text-embedding-3-small"
    embeddings_dimensions: int | None = None
    # Torch threads for the local model; unset: every CPU the process may use.
    embeddings_threads: int | None = None
    search_timeout_seconds: float = 30.0
    # The chat model that rewrites a search's query when asked to (`rewrite_query`).
    query_rewrite_model: str = "gpt-4o-mini"

    # code_interpreter: which sandbox runs code (auto: Docker when its engine answers and
    # the image is there, else bubblewrap), and the limits every backend enforces.
    sandbox: Literal["auto", "docker", "bwrap"] = "auto"
    # The engine's address, e.g. unix:///run/treadle-docker.sock; unset: the default socket.
    # Sessions talk over a socket under data_dir, so the engine must run on this host.
    sandbox_docker_host: str | None = None
    sandbox_image: str = "treadle-sandbox:latest"
    # The Debian root bubblewrap binds read-only (deploy/sandbox/prepare.sh makes it).
    sandbox_rootfs: Path = Path("/var/cache/treadle/rootfs")
    sandbox_memory_mb: int = 512
    sandbox_cpus: float = 1.0
    sandbox_pids: int = 64
    sandbox_time_limit_seconds: float = 60.0
    sandbox_idle_seconds: int = 30 * 60
    sandbox_max_age_seconds: int = 60 * 60
    sandbox_output_limit_chars: int = 20_000
    sandbox_data_mb: int = 256
    sandbox_tmp_mb: int = 64
    sandbox_files_limit_bytes: int = 64 * 1024 * 1024
    sandbox_start_timeout_seconds: float = 20.0

    blob_store: Literal["postgres", "directory"] = "postgres"
    max_file_bytes: int = 512 * 1024 * 1024

    # auto: JSON lines unless stderr is a terminal (containers and services get JSON).
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: str = "INFO"

    @property
    def embedded_postgres(self) -> bool:
        return "database_url" not in self.model_fields_set

    @property
    def embedded_redis(self) -> bool:
        return "redis_url" not in self.model_fields_set


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def export(values: dict[str, str]) -> Settings:
    """Set TREADLE_* variables for this process and the processes it starts, then reread."""
    os.environ.update(values)
    get_settings.cache_clear()
    return get_settings()
