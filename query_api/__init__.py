"""Read-only serving of the projections: HTTP API, named queries, gated SQL."""
