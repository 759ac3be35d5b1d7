"""Alembic migrations of rubric's schema (run through rubric_app.schema, not imported)."""
