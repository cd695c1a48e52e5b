"""Alembic migrations for the tables in :mod:`introcoach.storage.models`."""
