"""All configuration, read once from `GEKO_*` environment variables and `.env` (see infra/.env.example)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("auth", "workspace", "model", "chat", "memory", "billing", "audit")


class Settings(BaseSettings):
    """Platform settings. Defaults give the embedded mode: SQLite and in-process cache under `data_dir`."""

    model_config = SettingsConfigDict(env_prefix="GEKO_", env_file=".env", extra="ignore")

    env: str = Field("development", description="development or production")
    data_dir: Path = Field(
        Path(".geko"), description="Where the embedded mode keeps its SQLite file and keys"
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; empty means SQLite in data_dir (postgresql+psycopg://… in prod)",
    )
    redis_url: str | None = Field(
        None, description="redis://…; empty means in-process cache/rate limits/pubsub"
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Encrypts secrets at rest (signing keys, provider keys); generated in data_dir if empty",
    )

    host: str = Field("127.0.0.1", description="Gateway bind address")
    port: int = Field(8000, description="Gateway port")
    public_url: str | None = Field(
        None, description="External URL of the gateway, for links; default http://host:port"
    )
    grpc_host: str = Field("127.0.0.1", description="Bind address of `geko serve <service>`")
    grpc_deadline_seconds: float = Field(10.0, description="Deadline of every internal gRPC call")
    grpc_grace_seconds: float = Field(5.0, description="Time in-flight RPCs get on shutdown")
    local_calls: bool = Field(
        True,
        description="Services hosted in the same process call each other directly, without a socket "
        "(the protobuf contract, interceptors, deadlines and errors are the same)",
    )

    auth_addr: str = Field("127.0.0.1:50051", description="host:port of the auth service")
    workspace_addr: str = Field("127.0.0.1:50052", description="host:port of the workspace service")
    model_addr: str = Field("127.0.0.1:50053", description="host:port of the model service")
    chat_addr: str = Field("127.0.0.1:50054", description="host:port of the chat service")
    memory_addr: str = Field("127.0.0.1:50055", description="host:port of the memory service")
    billing_addr: str = Field("127.0.0.1:50056", description="host:port of the billing service")
    audit_addr: str = Field("127.0.0.1:50057", description="host:port of the audit service")

    jwt_issuer: str = Field("geko", description="`iss` of access tokens")
    jwt_audience: str = Field("geko", description="`aud` of access tokens")
    access_token_ttl_seconds: int = Field(900, le=900, gt=0, description="Access token lifetime (max 15 min)")
    refresh_token_ttl_seconds: int = Field(30 * 86400, gt=0, description="Refresh token lifetime")
    jwks_cache_seconds: int = Field(300, description="How long verifiers keep the public keys")

    login_rate_per_ip: int = Field(20, description="Login/register attempts per IP per window")
    login_rate_per_email: int = Field(10, description="Login attempts per email per window")
    login_rate_window_seconds: int = Field(60, description="Window of the login/register rate limits")

    graphql_max_depth: int = Field(
        12, description="Deepest GraphQL selection accepted (introspection included)"
    )
    graphql_max_aliases: int = Field(30, description="Most aliases in one GraphQL document")
    graphql_max_tokens: int = Field(2000, description="Most tokens in one GraphQL document")
    max_body_bytes: int = Field(1_000_000, description="Largest HTTP request body (413 above)")

    admin_email: str = Field(
        "admin@geko.example", description="First admin, created by `geko up` on first start"
    )
    admin_password: SecretStr | None = Field(None, description="Its password; generated and printed if empty")

    smtp_host: str | None = Field(
        None, description="SMTP server for outgoing email (invitations); empty means email is disabled"
    )
    smtp_port: int = Field(587, gt=0, lt=65536, description="SMTP server port")
    smtp_username: str | None = Field(None, description="SMTP login; empty means no AUTH")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_from: str = Field("GEKO <no-reply@geko.example>", description="From: of outgoing email")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS before AUTH")
    smtp_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of each SMTP connect and command")

    openai_base_url: str = Field(
        "https://api.openai.com/v1", description="Platform default for catalog models of provider openai"
    )
    openai_api_key: SecretStr | None = Field(None, description="API key of the platform's OpenAI account")
    anthropic_base_url: str = Field(
        "https://api.anthropic.com", description="Platform default for catalog models of provider anthropic"
    )
    anthropic_api_key: SecretStr | None = Field(
        None, description="API key of the platform's Anthropic account"
    )
    deepseek_base_url: str = Field(
        "https://api.deepseek.com/v1",
        description="Platform default for catalog models of provider deepseek (an OpenAI-compatible API)",
    )
    deepseek_api_key: SecretStr | None = Field(None, description="API key of the platform's DeepSeek account")
    ollama_url: str = Field(
        "http://127.0.0.1:11434", description="The Ollama server of local models (chat, pull, delete)"
    )

    chat_default_max_output_tokens: int = Field(
        1024,
        gt=0,
        description="Output tokens a chat turn may produce (and reserves) when the client asks for no limit; "
        "lowered to the model's own maximum",
    )
    chat_resume_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="How long a turn keeps generating after its last client went away, waiting to be "
        "resumed; then it is cut (billed for what was produced)",
    )
    chat_event_ttl_seconds: float = Field(
        600.0, gt=0, description="How long a turn's events stay resumable after its last event"
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(True, description="JSON log lines (false: human-readable)")

    def service_addr(self, service: str) -> str:
        """The address a caller dials for `service`."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        return str(getattr(self, f"{service}_addr"))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'geko.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` and pass it explicitly."""
    return Settings()
