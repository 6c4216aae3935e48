"""The schema registry's read endpoints, in Confluent Schema Registry's response shapes.

Served from a `SchemaSource` the entry point passes in (the embedded `<prefix>._schemas`
store of cdc_ingest); stock clients (confluent_kafka's SchemaRegistryClient) authenticate
with HTTP Basic, so the API key is also accepted as the Basic password.
"""

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from query_api.context import ApiContext

REGISTRY_MEDIA = "application/vnd.schemaregistry.v1+json"
_MAX_ID = 2**31 - 1


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
    """Read access to the registered schemas."""

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


def registry_error(status: int, code: int, message: str) -> JSONResponse:
    """An error in Confluent's shape {"error_code", "message"}."""
    return JSONResponse(
        {"error_code": code, "message": message}, status_code=status, media_type=REGISTRY_MEDIA
    )


def _ok(body: Any) -> JSONResponse:
    return JSONResponse(body, media_type=REGISTRY_MEDIA)


def registry_router(ctx: ApiContext, source: SchemaSource) -> APIRouter:
    """The registry routes bound to one app's context and schema source."""
    router = APIRouter(
        tags=["schema registry"], dependencies=[Depends(ctx.require("reader", basic=True))]
    )
    Subject = Annotated[str, Path(min_length=1, max_length=255)]

    @router.get("/schemas/ids/{schema_id}", summary="A schema by its id")
    def schema_by_id(schema_id: Annotated[int, Path(ge=0, le=_MAX_ID)]) -> JSONResponse:
        text = source.by_id(schema_id)
        if text is None:
            return registry_error(404, 40403, f"Schema {schema_id} not found")
        return _ok({"schema": text})

    @router.get("/subjects", summary="Every subject")
    def subjects() -> JSONResponse:
        return _ok(source.subjects())

    @router.get("/subjects/{subject}/versions", summary="The versions of a subject")
    def versions(subject: Subject) -> JSONResponse:
        found = source.versions(subject)
        if not found:
            return registry_error(404, 40401, f"Subject '{subject}' not found.")
        return _ok(found)

    @router.get("/subjects/{subject}/versions/{version}", summary="One version, or latest")
    def version(
        subject: Subject, version: Annotated[str, Path(pattern=r"^(latest|-1|\d{1,9})$")]
    ) -> JSONResponse:
        known = source.versions(subject)
        if not known:
            return registry_error(404, 40401, f"Subject '{subject}' not found.")
        number = known[-1] if version in ("latest", "-1") else int(version)
        found = source.get(subject, number)
        if found is None:
            return registry_error(404, 40402, f"Version {version} not found.")
        return _ok(
            {
                "subject": found.subject,
                "version": found.version,
                "id": found.id,
                "schema": found.schema,
            }
        )

    return router
