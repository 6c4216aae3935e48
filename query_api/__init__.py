"""Read-only serving of the projections: HTTP API, named queries, gated SQL."""

from event_contract.watermark import Watermark
from query_api.app import create_app
from query_api.database import DuckDBLimits, lock_down
from query_api.errors import QueryApiError
from query_api.routes_registry import SchemaSource, SchemaVersion
from query_api.store import DuckDBReadStore, ReadStore

__all__ = [
    "DuckDBLimits",
    "DuckDBReadStore",
    "QueryApiError",
    "ReadStore",
    "SchemaSource",
    "SchemaVersion",
    "Watermark",
    "create_app",
    "lock_down",
]
