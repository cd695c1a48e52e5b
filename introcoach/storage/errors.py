"""Errors the storage functions raise besides ``ValueError`` and ``PermissionError``."""

from __future__ import annotations


class NotFound(LookupError):
    """The user, session, score, criterion or comment does not exist."""


class UsernameTaken(ValueError):
    """Another user already has this username."""
