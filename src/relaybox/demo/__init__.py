"""The embedded demo: a SQLite table synced to a JSON-lines file, with injected failures."""
