"""Versioned results: the committed JSON schemas, migration of older files, the validated store."""
from .store import SCHEMA_PATH, SCHEMA_VERSION, dumps, read_result, upgrade, validate, write_result

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "dumps", "read_result", "upgrade", "validate", "write_result"]
