"""The operations console (`/console`): a server-rendered page over the API's own data."""

from query_api.console.routes import console_router

__all__ = ["console_router"]
