"""Settings, read once from the environment (and an optional `.env`)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.local_secrets import read_or_create

DEV_CORS_ORIGINS = tuple(
    f"http://{host}:{port}" for host in ("localhost", "127.0.0.1") for port in (3000, 4200, 5173, 8080)
)
"""Local frontend dev servers (React/Next 3000, Angular 4200, Vite 5173, Vue CLI 8080)."""


class PactCredential(BaseModel):
    """Credentials a PACT data recipient issued to this service (HTTP Basic at its token endpoint)."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr


class Settings(BaseSettings):
    """Every knob of the service. Production fails closed: no secret, no start."""

    # hide_input_in_errors: a rejected setting is not echoed (it may be a password or key).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    ssl_keyfile: Path | None = Field(
        default=None, description="`serve` speaks HTTPS with this private key (PEM); set with SSL_CERTFILE."
    )
    ssl_certfile: Path | None = Field(
        default=None, description="`serve` speaks HTTPS with this certificate chain (PEM); set with SSL_KEYFILE."
    )

    database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=100)
    db_pool_pre_ping: bool = Field(
        default=False,
        description="Ping each connection on checkout. Off by default: a dropped connection is detected "
        "on use (503, pool invalidated) and the ping costs a round trip on every request.",
    )

    large_page_concurrency: int = Field(
        default=2,
        ge=1,
        description="How many progress pages of more than 100 records are read and encoded at once; "
        "the others wait their turn, so small reads stay fast during bulk syncs.",
    )

    secret_key: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "score4climate-api"
    jwt_audience: str = "score4climate"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    first_admin_email: str | None = None
    first_admin_password: SecretStr | None = None
    demo_data: bool = Field(
        default=False,
        description="`serve` loads the demo world (accounts with a published password) into a database "
        "without enterprises. Without it, only development on the embedded database does; never production.",
    )

    redis_url: str | None = None
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    token_rate_limit_per_minute: int = Field(default=30, ge=1)
    login_failures_per_15_minutes: int = Field(
        default=5,
        ge=1,
        description="Wrong passwords an account may have before each further try must wait a growing delay.",
    )
    login_failures_per_address: int = Field(
        default=30,
        ge=1,
        description="Wrong passwords one client address may have (any accounts) before it must wait a growing delay.",
    )
    login_max_delay_seconds: int = Field(
        default=300,
        ge=1,
        description="The longest wait the login throttle imposes (delays double from 1 s up to this).",
    )
    password_hash_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads that hash and verify passwords (Argon2id); default half the CPUs, at least 1.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed. Empty (the default): forwarded headers are ignored.",
    )

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Browser origins allowed to call the API. Empty in development: the usual local "
        "frontend origins (DEV_CORS_ORIGINS) are allowed; elsewhere: no cross-origin calls.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    idempotency_ttl_hours: int = Field(
        default=168, ge=1, description="How long an Idempotency-Key is remembered (7 days: offline clients retry late)."
    )

    attachment_store: Literal["postgres", "s3"] = Field(
        default="postgres",
        description="Where attachment bytes are kept: `postgres` (in the database, the default) or `s3` (an "
        "S3-compatible object store, configured by the ATTACHMENT_S3_* settings).",
    )
    attachment_max_bytes: int = Field(
        default=20_000_000, ge=1, description="The largest attachment accepted (bytes of the file itself); larger: 413."
    )
    attachment_types: Annotated[list[str], NoDecode] = Field(
        default=["image/jpeg", "image/png", "image/webp", "application/pdf"],
        description="Media types accepted as attachments, comma-separated, as detected from the file's first "
        "bytes (app/filetypes.py knows JPEG, PNG, WebP and PDF); another type: 415.",
    )

    event_retention_days: int = Field(
        default=30, ge=1, description="Events are kept this long; an older `after` cursor answers 410."
    )
    webhook_retry_schedule: Annotated[list[int], NoDecode] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000],
        description="Seconds to wait before each retry of a failed delivery, comma-separated (default: "
        "5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27 hours); then it is failed.",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="A delivery must get its 2xx within this.")
    webhook_disable_after_days: float = Field(
        default=5.0, gt=0, description="An endpoint failing every delivery for this long is disabled."
    )
    webhook_concurrency: int = Field(
        default=64, ge=1, description="Deliveries one worker has in flight at once (all endpoints)."
    )
    webhook_endpoint_concurrency: int = Field(
        default=8, ge=1, description="Deliveries one worker has in flight to any one endpoint."
    )
    worker: Literal["embedded", "off"] | None = Field(
        default=None,
        description="`embedded`: `serve` also runs a delivery worker in its process (the default in "
        "development); `off`: deliveries are left to `score4climate worker` processes (the default elsewhere).",
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="`score4climate worker` serves its Prometheus metrics here."
    )
    outbound_allow_private: bool | None = Field(
        default=None,
        description="Allow outbound calls (webhooks) to http and to loopback, private, link-local or "
        "unique-local addresses. Default: allowed except when ENVIRONMENT=production.",
    )

    pact_outbound_credentials: dict[str, PactCredential] = Field(
        default_factory=dict,
        description="PACT callbacks: a JSON object from a requester's base URL (the `source` of its request "
        'events) to `{"client_id": ..., "client_secret": ...}`, the credentials that requester issued to us '
        "for its `/auth/token`.",
    )

    # Attachment object store (S3-compatible)
    attachment_s3_bucket: str | None = Field(
        default=None, description="Bucket of the S3-compatible attachment store; required when that store is used."
    )
    attachment_s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible server (MinIO, …), e.g. `http://minio:9000`; unset: AWS S3. "
        "A custom endpoint is addressed by path (`http://minio:9000/bucket/key`).",
    )
    attachment_s3_region: str | None = Field(
        default=None, description="Region of the bucket; unset: the AWS default chain (`AWS_REGION`, config file)."
    )
    attachment_s3_access_key_id: SecretStr | None = Field(
        default=None,
        description="Access key id, given together with the secret; unset: the AWS default credential chain "
        "(environment, config files, instance or task role).",
    )
    attachment_s3_secret_access_key: SecretStr | None = Field(
        default=None, description="Secret access key, given together with the access key id."
    )
    attachment_sweep_grace_hours: int = Field(
        default=24,
        ge=1,
        description="The worker removes, every hour, objects of the S3 store that no attachment names and that "
        "are older than this (what a crash between an upload and its commit leaves behind).",
    )
    attachment_s3_prefix: str = Field(
        default="attachments/",
        description="Prefix of every object key (the key is the prefix followed by the attachment's id). "
        "The sweep looks only under it.",
    )

    @field_validator(
        "attachment_s3_bucket",
        "attachment_s3_endpoint_url",
        "attachment_s3_region",
        "ssl_keyfile",
        "ssl_certfile",
        mode="before",
    )
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("attachment_s3_endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("ATTACHMENT_S3_ENDPOINT_URL must be an http:// or https:// URL")
        return value

    @field_validator("attachment_s3_prefix")
    @classmethod
    def _relative_prefix(cls, value: str) -> str:
        if value.startswith("/"):
            raise ValueError("ATTACHMENT_S3_PREFIX is a key prefix such as `attachments/`, without a leading /")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.ssl_keyfile is None) != (self.ssl_certfile is None):
            raise ValueError("SSL_KEYFILE and SSL_CERTFILE are set together or not at all")
        return self

    @model_validator(mode="after")
    def _s3_key_pair(self) -> Settings:
        if (self.attachment_s3_access_key_id is None) != (self.attachment_s3_secret_access_key is None):
            raise ValueError(
                "ATTACHMENT_S3_ACCESS_KEY_ID and ATTACHMENT_S3_SECRET_ACCESS_KEY are set together or not at all"
            )
        return self

    @field_validator("cors_origins", "trusted_proxies", "webhook_retry_schedule", "attachment_types", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("pact_outbound_credentials")
    @classmethod
    def _base_urls(cls, value: dict[str, PactCredential]) -> dict[str, PactCredential]:
        return {url.rstrip("/"): credential for url, credential in value.items()}

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _positive_delays(cls, value: list[int]) -> list[int]:
        if not value or any(delay < 1 for delay in value):
            raise ValueError("WEBHOOK_RETRY_SCHEDULE: at least one delay, each a whole number of seconds >= 1")
        return value

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _secret_key(self) -> Settings:
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters")
        if self.first_admin_password is not None and len(self.first_admin_password.get_secret_value()) < 8:
            raise ValueError("FIRST_ADMIN_PASSWORD must be at least 8 characters")
        if self.demo_data and self.environment == "production":
            raise ValueError("DEMO_DATA is refused when ENVIRONMENT=production: demo users share a published password")
        if self.secret_key is None:
            if self.environment == "production":
                raise ValueError("SECRET_KEY is required when ENVIRONMENT=production")
            self.secret_key = SecretStr(_development_secret(self.data_dir))
        return self

    @property
    def allowed_origins(self) -> list[str]:
        if self.cors_origins:
            return self.cors_origins
        return list(DEV_CORS_ORIGINS) if self.environment == "development" else []

    @property
    def private_outbound_allowed(self) -> bool:
        if self.outbound_allow_private is not None:
            return self.outbound_allow_private
        return self.environment != "production"

    @property
    def embedded_worker(self) -> bool:
        if self.worker is not None:
            return self.worker == "embedded"
        return self.environment == "development"

    @property
    def signing_key(self) -> str:
        assert self.secret_key is not None
        return self.secret_key.get_secret_value()


def _development_secret(data_dir: Path) -> str:
    """A random key made once and kept under the data folder (development and tests only)."""
    return read_or_create(data_dir / "secret_key", lambda: secrets.token_urlsafe(48))


@lru_cache
def get_settings() -> Settings:
    """The one accessor: settings are read once per process."""
    return Settings()
