"""JSON schemas of trickstack records, generated from the pydantic models (see trickstack.core.records)."""
