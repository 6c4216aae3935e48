"""The schema registry's read endpoints, in Confluent Schema Registry's response shapes.

Served from a `SchemaSource` the entry point passes in (the embedded `<prefix>._schemas`
store of cdc_ingest); stock clients (confluent_kafka's SchemaRegistryClient) authenticate
with HTTP Basic, so the API key is also accepted as the Basic password.
"""

from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from query_api.context import ApiContext
from query_api.errors import SchemaSourceUnavailable

REGISTRY_MEDIA = "application/vnd.schemaregistry.v1+json"
_MAX_ID = 2**31 - 1
_BACKEND_ERROR = 50001
"""Confluent's error code for "error in the backend data store"."""
_RETRY_AFTER_S = "5"


class SchemaVersion(Protocol):
    """One registered version of a subject."""

    @property
    def subject(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def id(self) -> int: ...

    @property
    def schema(self) -> str: ...


class SchemaSource(Protocol):
    """Read access to the registered schemas.

    Every method raises `SchemaSourceUnavailable` when the store cannot be reached.
    """

    def by_id(self, schema_id: int) -> str | None:
        """The schema JSON text of an id, or None."""
        ...

    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        ...

    def versions(self, subject: str) -> list[int]:
        """The versions of a subject, ascending (empty if unknown)."""
        ...

    def get(self, subject: str, version: int) -> SchemaVersion | None:
        """One version of a subject, or None."""
        ...


class NoSchemas:
    """A `SchemaSource` with no schemas: the registry endpoints answer as an empty registry
    (an app served in process by `offload query`, a benchmark, a test)."""

    def by_id(self, schema_id: int) -> str | None:
        """None: no id is known."""
        return None

    def subjects(self) -> list[str]:
        """No subjects."""
        return []

    def versions(self, subject: str) -> list[int]:
        """No versions."""
        return []

    def get(self, subject: str, version: int) -> SchemaVersion | None:
        """None: no version is known."""
        return None


def registry_error(status: int, code: int, message: str) -> JSONResponse:
    """An error in Confluent's shape {"error_code", "message"}."""
    return JSONResponse(
        {"error_code": code, "message": message}, status_code=status, media_type=REGISTRY_MEDIA
    )


def _ok(body: Any) -> JSONResponse:
    return JSONResponse(body, media_type=REGISTRY_MEDIA)


def _guarded(answer: Callable[[], JSONResponse]) -> JSONResponse:
    """`answer()`, or 503 in Confluent's shape with Retry-After when the store is unreachable."""
    try:
        return answer()
    except SchemaSourceUnavailable as exc:
        response = registry_error(503, _BACKEND_ERROR, str(exc))
        response.headers["Retry-After"] = _RETRY_AFTER_S
        return response


def registry_router(ctx: ApiContext, source: SchemaSource) -> APIRouter:
    """The registry routes bound to one app's context and schema source."""
    router = APIRouter(
        tags=["schema registry"], dependencies=[Depends(ctx.require("reader", basic=True))]
    )
    Subject = Annotated[str, Path(min_length=1, max_length=255)]

    @router.get("/schemas/ids/{schema_id}", summary="A schema by its id")
    def schema_by_id(schema_id: Annotated[int, Path(ge=0, le=_MAX_ID)]) -> JSONResponse:
        def answer() -> JSONResponse:
            text = source.by_id(schema_id)
            if text is None:
                return registry_error(404, 40403, f"Schema {schema_id} not found")
            return _ok({"schema": text})

        return _guarded(answer)

    @router.get("/subjects", summary="Every subject")
    def subjects() -> JSONResponse:
        return _guarded(lambda: _ok(source.subjects()))

    @router.get("/subjects/{subject}/versions", summary="The versions of a subject")
    def versions(subject: Subject) -> JSONResponse:
        def answer() -> JSONResponse:
            found = source.versions(subject)
            if not found:
                return registry_error(404, 40401, f"Subject '{subject}' not found.")
            return _ok(found)

        return _guarded(answer)

    @router.get("/subjects/{subject}/versions/{version}", summary="One version, or latest")
    def version(
        subject: Subject, version: Annotated[str, Path(pattern=r"^(latest|-1|\d{1,9})$")]
    ) -> JSONResponse:
        return _guarded(lambda: _one_version(source, subject, version))

    return router


def _one_version(source: SchemaSource, subject: str, version: str) -> JSONResponse:
    known = source.versions(subject)
    if not known:
        return registry_error(404, 40401, f"Subject '{subject}' not found.")
    number = known[-1] if version in ("latest", "-1") else int(version)
    found = source.get(subject, number)
    if found is None:
        return registry_error(404, 40402, f"Version {version} not found.")
    body = {"subject": found.subject, "version": found.version, "id": found.id}
    return _ok({**body, "schema": found.schema})
