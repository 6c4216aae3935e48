"""DuckDB read models that apply each mainframe unit of work atomically, exactly once."""
