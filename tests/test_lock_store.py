"""The conversation lock, in memory and on the real Redis server.

Two store objects on one Redis stand for two Rasa replicas: tickets issued at
the same moment are all kept and all different, one holder at a time, first
come first served, a dead holder's ticket expires after one lease, and a
holder that takes longer than a lease keeps its lock. Every Redis key is
under a throwaway prefix, removed afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Iterator, List, Tuple

import pytest
from rasa.core.lock_store import LockError
from rasa.shared.exceptions import ConnectionException
from redis_support import keys_under, throwaway_prefix

from introcoach.lock_store import ProjectLockStore, lease_seconds


@pytest.fixture
def redis_prefix() -> Iterator[Tuple[str, str]]:
    with throwaway_prefix() as (url, prefix):
        yield url, prefix


def two_replicas(url: str, prefix: str, lease: float = 20.0) -> List[ProjectLockStore]:
    return [ProjectLockStore(url=url, key_prefix=prefix, lease=lease) for _ in range(2)]


def test_without_redis_url_the_lock_lives_in_memory() -> None:
    store = ProjectLockStore(url="")
    assert store.backend == "memory"
    first = store.issue_ticket("c1")
    second = store.issue_ticket("c1")
    assert (first, second) == (0, 1)
    assert store.turn("c1", first) is True
    assert store.turn("c1", second) is False
    store.cleanup("c1", first)
    assert store.turn("c1", second) is True
    store.cleanup("c1", second)
    assert store.get_lock("c1") is None


def test_tickets_issued_at_once_by_two_replicas_are_all_kept_and_unique(
    redis_prefix: Tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    replicas = two_replicas(url, prefix)
    issued: List[int] = []
    guard = threading.Lock()
    start = threading.Barrier(4)

    def issue(store: ProjectLockStore) -> None:
        start.wait(timeout=10)
        for _ in range(100):
            number = store.issue_ticket("shared")
            with guard:
                issued.append(number)

    threads = [
        threading.Thread(target=issue, args=(replicas[i % 2],)) for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(issued) == 400
    assert len(set(issued)) == 400, "two replicas were given the same ticket"
    stored = replicas[0].get_lock("shared")
    assert stored is not None
    assert sorted(t.number for t in stored.tickets) == sorted(issued)


async def test_one_holder_at_a_time_in_the_order_of_arrival(
    redis_prefix: Tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    replicas = two_replicas(url, prefix)
    inside = 0
    most_inside = 0
    order: List[int] = []

    async def message(index: int) -> None:
        nonlocal inside, most_inside
        async with replicas[index % 2].lock("conversation"):
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(index)
            await asyncio.sleep(0.01)
            inside -= 1

    tasks = []
    for index in range(20):
        tasks.append(asyncio.ensure_future(message(index)))
        await asyncio.sleep(0.005)  # arrive in a known order
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert most_inside == 1
    assert order == list(range(20))
    assert keys_under(prefix) == [], "a lock was left behind"


async def test_a_dead_replicas_ticket_expires_after_one_lease(
    redis_prefix: Tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    dead, alive = two_replicas(url, prefix, lease=1.0)
    dead.issue_ticket("c")  # taken, then the replica is killed: never released
    started = time.monotonic()
    async with alive.lock("c"):
        waited = time.monotonic() - started
    assert 0.5 <= waited <= 5.0
    assert keys_under(prefix) == []


async def test_a_slow_holder_keeps_its_lock_beyond_the_lease(
    redis_prefix: Tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    first, second = two_replicas(url, prefix, lease=1.0)
    events: List[str] = []

    async def slow() -> None:
        async with first.lock("c"):
            events.append("slow in")
            await asyncio.sleep(2.5)  # longer than the lease: renewed meanwhile
            events.append("slow out")

    async def next_message() -> None:
        await asyncio.sleep(0.2)
        async with second.lock("c"):
            events.append("next in")

    await asyncio.wait_for(asyncio.gather(slow(), next_message()), timeout=20)
    assert events == ["slow in", "slow out", "next in"]


async def test_an_error_inside_the_block_still_releases_the_lock(
    redis_prefix: Tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    store = two_replicas(url, prefix)[0]
    with pytest.raises(RuntimeError):
        async with store.lock("c"):
            raise RuntimeError("processing failed")
    assert keys_under(prefix) == []
    async with store.lock("c"):
        pass


async def test_a_waiter_whose_ticket_vanished_gets_a_lock_error() -> None:
    store = ProjectLockStore(url="")
    holder = store.issue_ticket("c")  # someone holds the lock

    async def wait_for_turn() -> None:
        async with store.lock("c"):
            pass  # pragma: no cover - never entered

    waiter = asyncio.ensure_future(wait_for_turn())
    await asyncio.sleep(0.1)
    store.delete_lock("c")  # e.g. the lock store was flushed
    with pytest.raises(LockError):
        await asyncio.wait_for(waiter, timeout=5)
    assert holder == 0 and store.get_lock("c") is None


def test_unreachable_redis_fails_at_start_without_showing_the_password() -> None:
    with pytest.raises(ConnectionException) as raised:
        ProjectLockStore(url="redis://:hunter2@127.0.0.1:1/0")
    assert "cannot reach Redis" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_the_lease_comes_from_the_environment() -> None:
    assert lease_seconds({}) == 20.0
    assert lease_seconds({"INTROCOACH_LOCK_LEASE": "45"}) == 45.0
    assert lease_seconds({"INTROCOACH_LOCK_LEASE": "soon"}) == 20.0
    assert lease_seconds({"INTROCOACH_LOCK_LEASE": "0"}) == 20.0
