"""The conversation lock: one message of a conversation at a time, on any replica.

Rasa processes a message inside ``lock_store.lock(sender_id)``; with several
Rasa replicas the lock must live in Redis. Rasa 3.6's ``RedisLockStore`` is
not safe for that:

- issuing a ticket, finishing one and expiring old ones are each a GET, a
  change in Python and a SET: two replicas that issue a ticket at the same time
  both read the same queue, and the second SET drops the first ticket, so both
  messages are processed at once; a replica that cleans up may delete the lock
  while another replica is queued on it;
- a ticket lives a fixed 60 s from the moment it is issued, however long the
  message waits or runs: a slow action or a long queue outlives its lock;
- waiting replicas poll once a second, adding up to a second to every queued
  message.

:class:`ProjectLockStore` keeps Rasa's ticket-lock model (first come, first
served) but makes every change to a lock one Redis transaction (``WATCH`` /
``MULTI``, retried when another replica changed the lock in between), keeps
its own ticket alive while it waits and while it holds the lock (a lease,
renewed in the background), and polls every 25 ms. A replica that dies stops
renewing, and its ticket expires after one lease, so the conversation goes on
on another replica. Without ``INTROCOACH_REDIS_URL`` the same logic runs in
memory (one Rasa process, ``make run``).

Configured in ``endpoints.yml`` (``type: introcoach.lock_store.ProjectLockStore``);
settings: ``INTROCOACH_REDIS_URL``, ``INTROCOACH_LOCK_PREFIX`` (default
``introcoach:lock:``), ``INTROCOACH_LOCK_LEASE`` (seconds, default 20).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    Dict,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
)

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.shared.exceptions import ConnectionException

from introcoach.settings import seconds_setting, url_without_password

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: ``change(lock)`` returns the lock to store (None: delete it) and a result.
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]

DEFAULT_PREFIX = "introcoach:lock:"
DEFAULT_LEASE = 20.0
POLL_INTERVAL = 0.025


def lease_seconds(env: Optional[Mapping[str, str]] = None) -> float:
    """How long a ticket lives without renewal (``INTROCOACH_LOCK_LEASE``, >= 1 s)."""
    return seconds_setting(
        os.environ if env is None else env,
        "INTROCOACH_LOCK_LEASE",
        DEFAULT_LEASE,
        minimum=1.0,
    )


class ProjectLockStore(LockStore):
    """Ticket locks whose every change is atomic, in Redis or in memory.

    Args:
        endpoint_config: What Rasa passes from ``endpoints.yml`` (unused: the
            settings come from the environment, like the tracker store's).
        url: Redis URL; default ``INTROCOACH_REDIS_URL``; empty means in memory.
        key_prefix: Prefix of every Redis key; default ``INTROCOACH_LOCK_PREFIX``.
        lease: Seconds a ticket lives unless renewed; default
            ``INTROCOACH_LOCK_LEASE``.

    Raises:
        ConnectionException: Redis does not answer at start-up.
    """

    def __init__(
        self,
        endpoint_config: Any = None,
        url: Optional[str] = None,
        key_prefix: Optional[str] = None,
        lease: Optional[float] = None,
    ) -> None:
        env = os.environ
        url = (env.get("INTROCOACH_REDIS_URL", "") if url is None else url).strip()
        self.key_prefix = (
            key_prefix
            or env.get("INTROCOACH_LOCK_PREFIX", "").strip()
            or DEFAULT_PREFIX
        )
        self.lease = lease if lease is not None else lease_seconds()
        self._memory: Dict[str, TicketLock] = {}
        self._redis: Any = None
        if url:
            import redis

            self._redis = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=5
            )
            try:
                self._redis.ping()
            except redis.RedisError as error:
                raise ConnectionException(
                    "The lock store cannot reach Redis at "
                    f"{url_without_password(url)}: {error}"
                ) from error
        logger.info("conversation lock store: %s", self.backend)
        super().__init__()

    @property
    def backend(self) -> str:
        """``"redis"`` or ``"memory"``."""
        return "redis" if self._redis is not None else "memory"

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    # -- the one primitive: read, change and write a lock atomically ----------

    def _update(self, conversation_id: str, change: Change[T]) -> T:
        """Apply ``change`` to the stored lock in one atomic step; return its result."""
        if self._redis is None:
            # One event loop, no await inside: nothing can interleave.
            new, result = change(self._memory.get(conversation_id))
            if new is None or not new.tickets:
                self._memory.pop(conversation_id, None)
            else:
                self._memory[conversation_id] = new
            return result
        key = self._key(conversation_id)

        def transaction(pipe: Any) -> T:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            new, result = change(lock)
            pipe.multi()
            if new is None or not new.tickets:
                pipe.delete(key)
            else:
                # The key outlives its last ticket by a little, never for ever.
                ttl = max(t.expires for t in new.tickets) - time.time() + 1
                pipe.set(key, new.dumps(), px=max(1000, int(ttl * 1000)))
            return result

        return self._redis.transaction(transaction, key, value_from_callable=True)  # type: ignore[no-any-return]

    # -- LockStore's storage interface (used by Rasa's helpers) ---------------

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        """The stored lock of a conversation, if any."""
        if self._redis is None:
            return self._memory.get(conversation_id)
        raw = self._redis.get(self._key(conversation_id))
        return TicketLock.from_dict(json.loads(raw)) if raw else None

    def delete_lock(self, conversation_id: str) -> None:
        """Delete a conversation's lock."""
        self._update(conversation_id, lambda _lock: (None, None))

    def save_lock(self, lock: TicketLock) -> None:
        """Store ``lock`` as it is (prefer the atomic operations below)."""
        self._update(lock.conversation_id, lambda _old: (lock, None))

    # -- atomic ticket operations ---------------------------------------------

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 0) -> int:
        """Queue a new ticket for the conversation and return its number."""
        lifetime = lock_lifetime or self.lease

        def issue(lock: Optional[TicketLock]) -> Tuple[TicketLock, int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lifetime)

        try:
            return self._update(conversation_id, issue)
        except Exception as error:
            raise LockError(
                f"Could not queue for the conversation lock: {error}"
            ) from error

    def renew(self, conversation_id: str, ticket: int) -> bool:
        """Extend ``ticket`` by one lease; False when it no longer exists."""

        def extend(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], bool]:
            if lock is None:
                return None, False
            lock.remove_expired_tickets()
            for held in lock.tickets:
                if held.number == ticket:
                    held.expires = time.time() + self.lease
                    return lock, True
            return lock, False

        return self._update(conversation_id, extend)

    def turn(self, conversation_id: str, ticket: int) -> Optional[bool]:
        """Whether ``ticket`` is first in line (None: it expired or is gone).

        Read-only: expired tickets ahead of it (a replica that died) are
        skipped here and pruned by the next change to the lock.
        """
        lock = self.get_lock(conversation_id)
        if lock is None:
            return None
        lock.remove_expired_tickets()
        numbers = [t.number for t in lock.tickets]
        if ticket not in numbers:
            return None
        return numbers[0] == ticket

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a ticket; the lock goes when no ticket is left."""

        def finish(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return lock, None

        self._update(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Give up a ticket (the stored lock is deleted with its last ticket)."""
        self.finish_serving(conversation_id, ticket_number)

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets."""

        def prune(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._update(conversation_id, prune)

    # -- what Rasa calls ------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = 0,
        wait_time_in_seconds: float = POLL_INTERVAL,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock while the block runs.

        The ticket is renewed every quarter lease while it waits and while it
        is held, so neither a long queue nor a slow action lets it expire; it
        is always given up at the end.

        Raises:
            LockError: The ticket expired while waiting (this process stalled
                for longer than a lease), or the lock store does not answer.
        """
        ticket = self.issue_ticket(conversation_id, self.lease)
        renewal = asyncio.ensure_future(self._keep_alive(conversation_id, ticket))
        try:
            poll = min(wait_time_in_seconds, POLL_INTERVAL)
            while True:
                state = self.turn(conversation_id, ticket)
                if state is None:
                    raise LockError(
                        f"The lock ticket for conversation {conversation_id} expired "
                        "while waiting."
                    )
                if state:
                    break
                await asyncio.sleep(poll)
            yield TicketLock(
                conversation_id, deque([Ticket(ticket, time.time() + self.lease)])
            )
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            try:
                self.cleanup(conversation_id, ticket)
            except Exception as error:  # the ticket then expires by itself
                logger.error(
                    "Could not give up the lock of conversation %s (%s); it "
                    "expires within %.0f s",
                    conversation_id,
                    error.__class__.__name__,
                    self.lease,
                )

    async def _keep_alive(self, conversation_id: str, ticket: int) -> None:
        while True:
            await asyncio.sleep(self.lease / 4)
            try:
                self.renew(conversation_id, ticket)
            except Exception as error:
                logger.warning(
                    "Could not renew the lock of conversation %s (%s)",
                    conversation_id,
                    error.__class__.__name__,
                )
