"""The sections of the settings, one frozen model per part of the gateway.

Each field carries its default, its bounds and a docstring under it. Unknown keys are refused
and the models are frozen. Secrets are typed `SecretStr`: the loader refuses them in the
file, so they come from the environment only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RuntimeSettings(_Section):
    data_dir: Path = Path(".offload")
    """Directory for every piece of state the gateway writes by default (relative to the
    working directory): the simulated Db2, DuckDB files, the local broker, job ledgers."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the gateway's own log lines."""


class LocalKafkaSettings(_Section):
    host: str = "127.0.0.1"
    """Address the local broker listens on (loopback only)."""
    port: int = Field(default=19092, ge=1, le=65535)
    """Client port of the local single-node broker."""
    controller_port: int = Field(default=19093, ge=1, le=65535)
    """KRaft controller port of the local broker."""
    version: str = "4.4.0"
    """Apache Kafka version Maven resolves (passed to offload/kafka/pom.xml)."""
    heap_mb: int = Field(default=1024, ge=256)
    """JVM heap of the local broker, in MiB."""
    start_timeout_s: float = Field(default=120.0, gt=0)
    """How long `kafka up` waits for the broker to answer metadata requests."""
    security: Literal["plaintext", "sasl_ssl"] = "plaintext"
    """Listeners of the local broker: "plaintext", or "sasl_ssl": clients on `port` over
    SASL_SSL (SCRAM-SHA-512 over TLS), the broker's own traffic on `internal_port` and
    `controller_port` over TLS with client certificates, ACLs (StandardAuthorizer) that allow
    only the principal `kafka.sasl_username`, which `kafka up` creates with its password."""
    internal_port: int = Field(default=19094, ge=1, le=65535)
    """Inter-broker TLS listener of a "sasl_ssl" broker (client certificate required)."""
    tls_cert_file: Path | None = None
    """With "sasl_ssl": the broker's certificate (PEM, its chain after it), signed by the CA of
    kafka.ssl_ca_location, naming `host` in its subjectAltName."""
    tls_key_file: Path | None = None
    """With "sasl_ssl": the unencrypted PKCS#8 PEM private key of tls_cert_file."""

    @model_validator(mode="after")
    def _tls_files_with_sasl_ssl(self) -> LocalKafkaSettings:
        if self.security == "sasl_ssl" and (
            self.tls_cert_file is None or self.tls_key_file is None
        ):
            raise ValueError('security "sasl_ssl" needs tls_cert_file and tls_key_file (PEM files)')
        return self


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:19092"
    """Brokers to use. The default is the local broker of `offload kafka up`."""
    topic_prefix: str = Field(default="offload", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
    """Prefix of every topic the gateway creates, so several gateways can share a cluster."""
    partitions: int = Field(default=3, ge=1)
    """Partitions of each change topic the gateway creates."""
    replication_factor: int = Field(default=1, ge=1)
    """Replication factor of the topics the gateway creates."""
    change_retention_ms: int = Field(default=-1, ge=-1)
    """retention.ms of change topics; -1 keeps the whole history so projections can rebuild."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """librdkafka security.protocol."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """librdkafka sasl.mechanism, when the protocol is SASL_*."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password: SecretStr | None = None
    """SASL password; environment only: OFFLOAD__KAFKA__SASL_PASSWORD."""
    ssl_ca_location: Path | None = None
    """CA certificate file for SSL / SASL_SSL."""
    ssl_certificate_location: Path | None = None
    """Client certificate (PEM) for brokers that require one (mutual TLS)."""
    ssl_key_location: Path | None = None
    """Unencrypted PEM private key of ssl_certificate_location."""
    local: LocalKafkaSettings = LocalKafkaSettings()
    """The local single-node broker started by `offload kafka up`."""

    @model_validator(mode="after")
    def _client_certificate_with_key(self) -> KafkaSettings:
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError("give both ssl_certificate_location and ssl_key_location, or neither")
        return self

    def client_config(self) -> dict[str, str]:
        """librdkafka settings shared by every producer, consumer and admin client."""
        conf = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # librdkafka's informational lines (e.g. BGQUEUE on close) would reach the
            # terminal unformatted; warnings and errors still do.
            "log_level": "4",
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location is not None:
            conf["ssl.certificate.location"] = str(self.ssl_certificate_location)
        if self.ssl_key_location is not None:
            conf["ssl.key.location"] = str(self.ssl_key_location)
        return conf

    def listener(self) -> str:
        """The listener clients use, as `PROTOCOL://bootstrap.servers`, for error messages."""
        return f"{self.security_protocol}://{self.bootstrap_servers}"

    def topic(self, *parts: str) -> str:
        """Full topic name: the prefix and the parts, lowercased, joined by dots."""
        return ".".join([self.topic_prefix, *(p.lower() for p in parts)])


class SourceSettings(_Section):
    kind: Literal["sqlite", "db2"] = "sqlite"
    """System of record: the embedded simulated Db2 ("sqlite") or a real Db2 ("db2")."""
    path: Path | None = None
    """SQLite file of the simulated Db2; default `<data_dir>/sor/<schema>.sqlite`."""
    schema_name: str = Field(default="SHIPPING", alias="schema", pattern=r"^[A-Z][A-Z0-9_]*$")
    """Default Db2 schema (creator): of unqualified table names and of the shipping tables; the
    simulated Db2 keeps its control tables there. Capture reads every schema's registrations."""
    dsn: str | None = None
    """Db2 connection string without the password, e.g.
    "DATABASE=DSNV12;HOSTNAME=zos.example.com;PORT=446;PROTOCOL=TCPIP;UID=OFFLOAD"."""
    password: SecretStr | None = None
    """Db2 password; environment only: OFFLOAD__SOURCE__PASSWORD."""
    connect_timeout_s: int = Field(default=10, ge=1)
    """Seconds to wait for a Db2 connection before failing."""
    capture_schema: str = Field(default="ASN", pattern=r"^[A-Z][A-Z0-9_]*$")
    """Schema of the ASN control tables (IBMSNAP_REGISTER, IBMSNAP_UOW) on a real Db2."""
    busy_timeout_ms: int = Field(default=10000, ge=0)
    """How long a simulated-Db2 connection waits for another writer's lock before failing."""
    flavor: Literal["simulator", "zos", "zos-extended", "luw"] = "simulator"
    """How the simulated Db2 writes its CD and control tables, chosen when its file is created:
    "simulator" (integer sequences), or as ASN Capture does: "zos" (10-byte RBA/LRSN, CHAR(10)
    FOR BIT DATA), "zos-extended" (16-byte LRSN), "luw" (VARCHAR(16) FOR BIT DATA). An existing
    file keeps its flavor (set explicitly to another, `offload sor` refuses). Capture reads the
    width from the catalog on either system."""
    updates_as_delete_insert: bool = False
    """The simulated Db2 registers tables with ASN's CHG_UPD_TO_DEL_INS = 'Y': each update is
    captured as a `D` row and an `I` row (capture pairs them into one update event)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


_GROUP_NAME = re.compile(r"[A-Za-z0-9_-]+")
_TABLE_NAME = re.compile(r"[A-Z][A-Z0-9_$#@]*\.[A-Z][A-Z0-9_$#@]*")


class CaptureSettings(_Section):
    tables: list[str] = ["*"]
    """Tables to capture: SCHEMA.TABLE, SCHEMA.* (every registered table of a schema), or "*"
    for every registered table of every schema."""
    poll_interval_ms: int = Field(default=200, ge=1)
    """Longest wait between reads of the capture tables while nothing new is committed. On the
    simulated Db2 a commit ends the wait within a few ms (capture checks SQLite's data_version
    every 5 ms); on a real Db2 this is the polling interval."""
    max_events_per_transaction: int = Field(default=20000, ge=1)
    """Events per Kafka transaction; a larger unit of work is split, its END marker completes it."""
    bulk_min_rows: int = Field(default=200, ge=0)
    """A unit of work with at least this many change rows in one read (a batch job's) is
    encoded a column at a time (Arrow, numpy), not event by event: the same messages, about
    half the CPU per event; below it the fixed cost per table outweighs the gain. 0: never.
    The simulated Db2 only (a real Db2's changes are written event by event)."""
    transaction_timeout_s: int = Field(default=60, ge=1, le=900)
    """Kafka transaction.timeout.ms of capture, in seconds, and the longest a commit waits: a
    capture stopped (or paused) longer than this with a transaction open has it aborted by the
    broker, and the restarted capture publishes it again. The broker caps it
    (transaction.max.timeout.ms, 15 min by default)."""
    snapshot_chunk_rows: int = Field(default=5000, ge=1)
    """Rows per chunk of an initial snapshot."""
    group: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]+$")
    """Capture group: one `cdc run` per group; names its transactional.id and position. With
    `split`, the group of every table `split` does not name."""
    operator_poll_s: float = Field(default=2.0, gt=0)
    """How often a running capture re-reads resume decisions and snapshot requests."""
    split: dict[str, list[str]] = {}
    """Capture split by table group: group name → its tables (SCHEMA.TABLE). Each group is a
    capture process of its own (its own transactional.id and position), `group` captures the
    rest; each writes a BEGIN and an END for every unit of work, and the read side applies a
    unit once every group's END arrived. Set it before the first `cdc run`: a capture refuses
    to start under a split other than the one its position was written with."""

    @model_validator(mode="after")
    def _split_names_groups_and_tables_once(self) -> CaptureSettings:
        owner: dict[str, str] = {}
        for name, tables in self.split.items():
            if not _GROUP_NAME.fullmatch(name) or name == self.group:
                raise ValueError(
                    f"split group {name!r}: expected a name of letters, digits, _ and - other "
                    f"than the group {self.group!r} (which captures the tables split leaves)"
                )
            if not tables:
                raise ValueError(f"split group {name!r} names no table")
            for table in tables:
                if not _TABLE_NAME.fullmatch(table):
                    raise ValueError(
                        f"split group {name!r}: {table!r} is not SCHEMA.TABLE (upper case, "
                        "no wildcard)"
                    )
                if table in owner:
                    raise ValueError(
                        f"table {table} is in split groups {owner[table]!r} and {name!r}"
                    )
                owner[table] = name
        return self

    def groups(self) -> list[str]:
        """Every capture group: `group`, then the split's."""
        return [self.group, *self.split]

    def owner(self, table: str) -> str:
        """The group that captures SCHEMA.TABLE."""
        return next((g for g, tables in self.split.items() if table in tables), self.group)


class SchemaRegistrySettings(_Section):
    url: str | None = None
    """External Confluent-compatible schema registry; unset: the embedded `<prefix>._schemas`."""
    basic_auth_user_info: SecretStr | None = None
    """"user:password" for the registry; environment only."""


_DEFAULT_LOGGED_VIEWS = ("cold_chain",)
"""The views logged when `projections.change_log_views` is unset (the alerts stream's)."""


class ProjectionSettings(_Section):
    path: Path | None = None
    """DuckDB file of the read models; default `<data_dir>/projections/offload.duckdb`."""
    batch_max_events: int = Field(default=50000, ge=1)
    """Events per DuckDB transaction at most (a larger unit of work is still applied whole)."""
    batch_max_ms: int = Field(default=500, ge=1)
    """Longest time a batch collects events under backlog (a batch being applied, or more
    records waiting); when the writer is idle a complete unit of work is applied at once."""
    views: list[str] = ["order_tracking", "cold_chain"]
    """Derived views kept current: NAME.sql and NAME.keys.sql in views_dir or projections/views."""
    views_dir: Path | None = None
    """Extra directory searched first for view SQL files (add a view without touching code)."""
    change_log_views: list[str] | None = None
    """Views whose row changes are logged in each batch, for `GET /views/{view}/changes` and
    (cold_chain) the alerts stream; each costs the writer a copy of the rows a batch replaces
    and writes. Each must be one of `views`; unset: cold_chain, when it is kept."""
    stage_threshold: int = Field(default=20000, ge=1)
    """A unit of work spills to the DuckDB stage once this many of its events are held in
    memory (a unit of exactly this many events spills too)."""
    reference_topics: list[str] = ["products", "ports", "vessels"]
    """Reference topics mirrored as reference.<name>, read from `<prefix>.reference.<name>`."""
    max_held_events: int = Field(default=50000, ge=1)
    """Events held in memory waiting for their unit of work; past it, partitions that ran
    ahead of the oldest incomplete unit of work are paused."""
    idle_ms: int = Field(default=500, ge=1)
    """`project run --until-idle` exits once every partition was read to its end this long."""
    stall_grace_ms: int = Field(default=1000, ge=0)
    """How long a unit of work whose END counts cannot be met any more (undecodable events)
    waits before it is applied without them and the gap is recorded as an error."""
    duckdb_memory_limit: str = Field(default="256MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    """DuckDB memory_limit of the projection database (`offload serve` then sets
    api.duckdb_memory_limit at lock-down: one limit per database)."""

    @model_validator(mode="after")
    def _logged_views_are_views(self) -> ProjectionSettings:
        unknown = [v for v in self.change_log_views or () if v not in self.views]
        if unknown:
            raise ValueError(
                f"change_log_views names {', '.join(unknown)}, not among views "
                f"({', '.join(self.views) or 'none'})"
            )
        return self

    def logged_views(self) -> list[str]:
        """The views whose changes are logged (`change_log_views`, or its default)."""
        if self.change_log_views is not None:
            return list(self.change_log_views)
        return [v for v in _DEFAULT_LOGGED_VIEWS if v in self.views]


class ApiKey(_Section):
    role: Literal["reader", "analyst", "admin"]
    """What the key may do."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """SHA-256 of the key, lowercase hex; the key itself is never stored."""


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    """Address the query API listens on."""
    port: int = Field(default=8080, ge=1, le=65535)
    """Port of the query API."""
    keys: dict[str, ApiKey] = {}
    """API keys by name; also settable whole as JSON through OFFLOAD__API__KEYS."""
    docs_enabled: bool = True
    """Serve the OpenAPI spec at /openapi.json and the interactive docs at /docs."""
    max_body_bytes: int = Field(default=65536, ge=1024)
    """Largest request body accepted, in bytes; a larger one gets 413."""
    page_size_default: int = Field(default=50, ge=1)
    """Rows per page of a list when the client gives no page_size."""
    page_size_max: int = Field(default=500, ge=1)
    """Largest page_size a client may ask for."""
    max_wait_ms: int = Field(default=10000, ge=0)
    """Cap of `wait_ms`: how long a read with `min_lsn` may wait for the watermark."""
    sql_row_cap: int = Field(default=10000, ge=1)
    """Rows returned by POST /sql at most; the answer says when it was truncated."""
    sql_timeout_s: float = Field(default=10.0, gt=0)
    """Time limit of one POST /sql query; the query is interrupted past it."""
    sql_max_concurrent_per_key: int = Field(default=2, ge=1)
    """POST /sql queries one key may run at once; more get 429."""
    duckdb_memory_limit: str = Field(default="1GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    """DuckDB memory_limit set on the shared read-store database at lock-down."""
    duckdb_threads: int = Field(default=2, ge=1)
    """DuckDB threads set on the shared read-store database at lock-down."""
    readiness_max_lag_s: float = Field(default=30.0, gt=0)
    """/readyz answers 200 while the watermark is within this many seconds of the source."""
    workers: int = Field(default=0, ge=0, le=64)
    """Serving worker processes of `offload serve` and `offload run`; 0: one per core."""
    tls_cert_file: Path | None = None
    """Serve HTTPS with this certificate (PEM, its chain after it); give tls_key_file too."""
    tls_key_file: Path | None = None
    """Private key (PEM) of tls_cert_file; unset with tls_cert_file for plain HTTP."""

    @model_validator(mode="after")
    def _tls_cert_with_key(self) -> ApiSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("give both tls_cert_file and tls_key_file (HTTPS), or neither")
        return self

    @property
    def scheme(self) -> str:
        """The URL scheme: https when a certificate is configured, else http."""
        return "http" if self.tls_cert_file is None else "https"


class ReferenceJobSettings(_Section):
    """One reference job. Paths are relative to the working directory (like runtime.data_dir)."""

    format: Literal["csv", "jsonl", "copybook"]
    """Extract format: CSV with a header row, JSON Lines, or EBCDIC laid out by a copybook."""
    keys: list[str] = Field(min_length=1)
    """Key fields, in key order (output names: copybook names lowercased, '-' → '_')."""
    source: Path | None = None
    """The extract file; or give `directory` and `glob` for a file-drop folder."""
    directory: Path | None = None
    """File-drop folder: the newest file (by modification time) matching `glob` is loaded."""
    glob: str | None = None
    """Pattern of extract files in `directory`, e.g. "PRODMAST.*.dat"."""
    fields: dict[str, str] = {}
    """csv/jsonl: field name → declared type (string, string(n), int, decimal(p,s), date,
    timestamp, bool; a trailing ? makes it nullable)."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """csv: the field separator."""
    encoding: str = "utf-8"
    """csv/jsonl: the text encoding."""
    copybook: Path | None = None
    """copybook: the COBOL copybook file describing the record layout."""
    codepage: str = "cp037"
    """copybook: the EBCDIC code page (a Python codec, e.g. cp037 or cp1140)."""
    recfm: Literal["FB", "VB"] = "FB"
    """copybook: fixed-length records, or variable-length records after 4-byte RDWs."""
    redefines: dict[str, str] = {}
    """copybook: redefined item → overlay to read instead of the first layout."""
    cron: str | None = None
    """Schedule as a 5-field crontab expression (minute hour day month weekday), local time."""
    interval_s: int | None = Field(default=None, ge=1)
    """Schedule as an interval in seconds (instead of `cron`)."""
    max_rejects: int = Field(default=0, ge=0)
    """Bad records tolerated per run (written to the reject file); 0 fails on the first."""
    misfire_grace_s: int = Field(default=3600, ge=1)
    """A run missed (gateway down) still starts if at most this late; missed runs coalesce."""

    @model_validator(mode="after")
    def _one_source_one_schedule(self) -> ReferenceJobSettings:
        if (self.source is None) == (self.directory is None or self.glob is None):
            raise ValueError("give either source, or directory and glob")
        if self.cron is not None and self.interval_s is not None:
            raise ValueError("give cron or interval_s, not both")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron '{self.cron}' must have 5 fields")
        if self.format == "copybook" and self.copybook is None:
            raise ValueError("format copybook needs copybook")
        if self.format != "copybook" and not self.fields:
            raise ValueError(f"format {self.format} needs fields (name = type)")
        return self


class ReferenceSettings(_Section):
    enabled: bool = True
    """Run the reference scheduler inside `offload run`."""
    jobs: dict[str, ReferenceJobSettings] = {}
    """Reference jobs by name; job NAME loads into topic `<prefix>.reference.NAME`."""
    transaction_timeout_s: int = Field(default=900, ge=10)
    """Kafka transaction.timeout.ms of a load, in seconds (the broker caps it, 15 min default)."""

    @field_validator("jobs")
    @classmethod
    def _job_names(cls, value: dict[str, ReferenceJobSettings]) -> dict[str, ReferenceJobSettings]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"job name '{name}' must match [a-z][a-z0-9_]*")
        return value


class RunSettings(_Section):
    cdc: bool = True
    """Run the CDC capture (`offload cdc run`) inside `offload run`."""
    serve: bool = True
    """Run the projections and the query API (`offload serve`) inside `offload run`."""
    reference: bool = True
    """Run the reference-load scheduler (`offload reference schedule`) inside `offload run`."""
    restart_backoff_initial_s: float = Field(default=1.0, gt=0)
    """First wait before a crashed part is restarted; doubles on each crash in a row."""
    restart_backoff_max_s: float = Field(default=30.0, gt=0)
    """Longest wait between restarts of a part that keeps crashing."""
    stable_after_s: float = Field(default=60.0, gt=0)
    """A part that ran this long is healthy again: its next crash waits the initial backoff."""
    stop_timeout_s: float = Field(default=30.0, gt=0)
    """How long a stopping part may take to finish its transaction before it is killed."""
