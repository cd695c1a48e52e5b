"""A throwaway Redis key prefix for the tests (the server on 127.0.0.1:6379).

Each use gets a unique prefix, and every key under it is deleted at the end.
Where no server answers, the tests that need one are skipped with the reason.
Imported by test modules; not a test module.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator, Tuple

import pytest

REDIS_URL = os.environ.get("INTROCOACH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_client():  # type: ignore[no-untyped-def]
    """A client of the test Redis server, or a skip when none answers."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(
            f"Redis not reachable at {REDIS_URL} "
            f"(set INTROCOACH_TEST_REDIS_URL): {error}"
        )
    return client


@contextmanager
def throwaway_prefix() -> Iterator[Tuple[str, str]]:
    """Yield ``(redis_url, key_prefix)``; delete every key under the prefix after."""
    client = redis_client()
    prefix = f"introcoach-test-{uuid.uuid4().hex[:10]}:"
    try:
        yield REDIS_URL, prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def keys_under(prefix: str) -> list:
    """The keys currently stored under ``prefix``."""
    client = redis_client()
    try:
        return list(client.scan_iter(match=prefix + "*", count=500))
    finally:
        client.close()
