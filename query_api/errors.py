"""Errors of the query API; each maps to one HTTP status and carries the values it names."""

from __future__ import annotations

from plumbing.errors import (
    EXIT_FAILURE,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    OffloadError,
    Terminal,
    Transient,
)


class QueryApiError(OffloadError):
    """Base of every error the query API reports; `status` is the HTTP status it maps to."""

    status: int = 400
    watermark: object | None = None
    """The snapshot's watermark when the error arose while answering (for the headers)."""


class SqlRefused(QueryApiError, Terminal):
    """A POST /sql statement the gate refuses: not exactly one read-only SELECT.

    Attributes:
        reason: why, in words a user can act on.
    """

    status = 400
    exit_code = EXIT_USAGE

    def __init__(self, reason: str) -> None:
        super().__init__(f"SQL refused: {reason}")
        self.reason = reason


class SqlFailed(QueryApiError, Terminal):
    """A gated statement that DuckDB could not run (unknown table, bad types, ...)."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(f"SQL failed: {detail}")
        self.detail = detail


class SqlTimeout(QueryApiError, Terminal):
    """A query ran over its time limit and was interrupted.

    Attributes:
        timeout_s: the limit in seconds.
    """

    status = 400

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"SQL query ran over the time limit of {timeout_s:g} s and was interrupted"
        )
        self.timeout_s = timeout_s


class TooManyQueries(QueryApiError, Transient):
    """A key already runs as many /sql queries as it may."""

    status = 429

    def __init__(self, key_name: str, limit: int) -> None:
        super().__init__(
            f"API key {key_name!r} already runs {limit} SQL queries"
            " (api.sql_max_concurrent_per_key)"
        )
        self.key_name = key_name
        self.limit = limit


class NotFound(QueryApiError, Terminal):
    """An id that names nothing in the read models.

    Attributes:
        entity: what was looked up (order, customer, voyage, container, schema, subject...).
        key: the id as given.
    """

    status = 404

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} not found")
        self.entity = entity
        self.key = key


class BadParameter(QueryApiError, Terminal):
    """A request parameter with a value that does not fit; maps to 422.

    Attributes:
        parameter: the parameter's name.
    """

    status = 422
    exit_code = EXIT_USAGE

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"parameter {parameter!r}: {problem}")
        self.parameter = parameter
        self.problem = problem


class NotFreshEnough(QueryApiError, Transient):
    """The watermark did not reach the LSN a client asked for within its wait.

    Attributes:
        min_lsn: the LSN asked for.
        lsn: the current watermark LSN (None before the first batch).
    """

    status = 503

    def __init__(self, min_lsn: int, lsn: int | None, waited_ms: int) -> None:
        super().__init__(
            f"watermark LSN {lsn} has not reached min_lsn {min_lsn} after waiting {waited_ms} ms"
        )
        self.min_lsn = min_lsn
        self.lsn = lsn
        self.waited_ms = waited_ms


class StoreUnavailable(QueryApiError, Transient):
    """The DuckDB file of the projections cannot be opened (missing, or held by a writer).

    Attributes:
        path: the DuckDB file.
    """

    status = 503
    exit_code = EXIT_UNREACHABLE

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(f"projection store {path} cannot be opened: {detail}")
        self.path = path
        self.detail = detail


class ModelsNotReady(QueryApiError, Transient):
    """A named query reads a table the projection writer has not created yet (503).

    Attributes:
        detail: DuckDB's words, naming the table.
    """

    status = 503

    def __init__(self, detail: str) -> None:
        super().__init__(f"the read models are not ready yet: {detail}")
        self.detail = detail


class WriterUnavailable(QueryApiError, Transient):
    """A serving worker cannot reach the process that owns the projection database (503).

    The writer is restarting, or not started yet; workers answer 503 meanwhile rather than
    serve a private copy (README, "Design decisions").

    Attributes:
        where: the writer's read server (its address file or location).
        detail: why it cannot be reached.
    """

    status = 503
    exit_code = EXIT_UNREACHABLE

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"the projection writer's read server {where} is unavailable: {detail}")
        self.where = where
        self.detail = detail


class SchemaSourceUnavailable(QueryApiError, Transient):
    """The schemas behind the registry endpoints cannot be read (Kafka or the external
    registry is unreachable); maps to 503 so that registry clients retry.

    Attributes:
        detail: what the schema store reported, naming the topic or registry URL.
    """

    status = 503
    exit_code = EXIT_UNREACHABLE

    def __init__(self, detail: str) -> None:
        super().__init__(f"schema registry unavailable, retry later: {detail}")
        self.detail = detail


class QueryUsage(QueryApiError, Terminal):
    """`offload query` was called with arguments that do not fit (exit code 2).

    Attributes:
        argument: the argument at fault (NAME, --param, --sql, --format).
    """

    exit_code = EXIT_USAGE

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument
        self.problem = problem


class QueryRefused(QueryApiError, Terminal):
    """The query API answered an `offload query` request with an error status.

    Attributes:
        status: the HTTP status (400/422/401/403 exit with 2, the others with 1).
        detail: the API's own message.
        via: where the request went (the API's URL, or the DuckDB file).
    """

    def __init__(self, status: int, detail: str, via: str) -> None:
        super().__init__(f"{detail} (HTTP {status}, {via})")
        self.status = status
        self.detail = detail
        self.via = via
        self.exit_code = EXIT_USAGE if status in (400, 401, 403, 413, 422) else EXIT_FAILURE


class ApiUnreachable(QueryApiError, Transient):
    """The query API stopped answering in the middle of an `offload query` (exit code 3).

    Attributes:
        url: the API's base URL.
    """

    exit_code = EXIT_UNREACHABLE

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"query API {url} did not answer: {detail}")
        self.url = url
        self.detail = detail
