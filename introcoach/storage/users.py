"""Users: accounts, passwords (argon2) and who may see whose sessions.

Every function takes an engine (it opens and commits its own transaction) or a
session (it works inside the caller's transaction).
"""

from __future__ import annotations

import logging
import threading
from typing import List, Optional, Union

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from introcoach.storage.db import Bind, transaction
from introcoach.storage.errors import NotFound, UsernameTaken
from introcoach.storage.models import ROLES, PracticeSession, User

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
UserRef = Union[User, int]

_hasher_lock = threading.Lock()
_hasher: Optional[PasswordHasher] = None
_dummy_hash: Optional[str] = None


def configure_password_hasher(hasher: Optional[PasswordHasher] = None) -> None:
    """Use ``hasher`` for new hashes (None: argon2-cffi's recommended defaults).

    Hashes made with other parameters still verify, and are rehashed with these
    ones at the next successful sign-in. Tests use cheap parameters.
    """
    global _hasher, _dummy_hash
    with _hasher_lock:
        _hasher = hasher
        _dummy_hash = None


def _password_hasher() -> tuple[PasswordHasher, str]:
    global _hasher, _dummy_hash
    with _hasher_lock:
        if _hasher is None:
            _hasher = PasswordHasher()
        if _dummy_hash is None:
            # Verified against when the username is unknown, so that answer
            # takes about as long as a wrong password.
            _dummy_hash = _hasher.hash("introcoach: no such user")
        return _hasher, _dummy_hash


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().lower()


def _user_id(user: UserRef) -> int:
    return user if isinstance(user, int) else int(user.id)


def _load_user(session: Session, user: UserRef) -> User:
    found = session.get(User, _user_id(user))
    if found is None:
        raise NotFound(f"no user with id {_user_id(user)}")
    return found


def _supervisor(session: Session, supervisor: UserRef) -> User:
    found = _load_user(session, supervisor)
    if found.role != "supervisor":
        raise ValueError(f"user {found.id} is not a supervisor")
    return found


def create_user(
    bind: Bind,
    username: str,
    password: str,
    role: str,
    display_name: str,
    supervisor: Optional[UserRef] = None,
) -> User:
    """Create a supervisor or a trainee.

    Args:
        bind: Engine or session.
        username: Unique, compared case-insensitively (stored lower-case).
        password: At least :data:`MIN_PASSWORD_LENGTH` characters; stored as an
            argon2 hash only.
        role: ``"supervisor"`` or ``"trainee"``.
        display_name: The name shown in the web app.
        supervisor: For a trainee, the supervisor (user or id) they report to.

    Returns:
        The new user.

    Raises:
        UsernameTaken: The username is in use.
        ValueError: An argument is invalid (role, lengths, supervisor).
        NotFound: The supervisor does not exist.

    """
    name = normalise_username(username)
    shown = display_name.strip()
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not 0 < len(name) <= 64:
        raise ValueError("username must have 1 to 64 characters")
    if not 0 < len(shown) <= 128:
        raise ValueError("display name must have 1 to 128 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if supervisor is not None and role != "trainee":
        raise ValueError("only trainees are assigned to a supervisor")
    hasher, _ = _password_hasher()
    password_hash = hasher.hash(password)
    with transaction(bind) as session:
        supervisor_id = (
            _supervisor(session, supervisor).id if supervisor is not None else None
        )
        taken = session.execute(select(User.id).where(User.username == name)).first()
        if taken is not None:
            raise UsernameTaken("username already in use")
        user = User(
            username=name,
            display_name=shown,
            role=role,
            password_hash=password_hash,
            supervisor_id=supervisor_id,
        )
        try:
            # A savepoint, so losing a race leaves the caller's transaction usable.
            with session.begin_nested():
                session.add(user)
        except IntegrityError:
            raise UsernameTaken("username already in use") from None
        logger.info("Created %s user %d", role, user.id)
        return user


def verify_password(bind: Bind, username: str, password: str) -> Optional[User]:
    """Return the user when the password is right, else None.

    An unknown username costs one hash verification too, so timing does not
    tell which usernames exist. A hash made with older parameters is replaced.

    Args:
        bind: Engine or session.
        username: As typed (normalised like :func:`create_user`).
        password: As typed.

    Returns:
        The signed-in user, or None.

    """
    hasher, dummy = _password_hasher()
    with transaction(bind) as session:
        user = session.execute(
            select(User).where(User.username == normalise_username(username))
        ).scalar_one_or_none()
        if user is None:
            try:
                hasher.verify(dummy, password)
            except VerificationError:
                pass
            return None
        try:
            hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            logger.info("Failed sign-in for user %d", user.id)
            return None
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
            logger.info("Rehashed the password of user %d", user.id)
        return user


def get_user(bind: Bind, user_id: int) -> Optional[User]:
    """Return the user with this id, or None."""
    with transaction(bind) as session:
        return session.get(User, user_id)


def assign_trainee(bind: Bind, trainee: UserRef, supervisor: Optional[UserRef]) -> User:
    """Assign a trainee to a supervisor (None: unassign).

    Raises:
        NotFound: Either user does not exist.
        ValueError: The trainee is not a trainee or the supervisor not a supervisor.

    """
    with transaction(bind) as session:
        user = _load_user(session, trainee)
        if user.role != "trainee":
            raise ValueError(f"user {user.id} is not a trainee")
        user.supervisor_id = (
            _supervisor(session, supervisor).id if supervisor is not None else None
        )
        logger.info("Assigned trainee %d to supervisor %s", user.id, user.supervisor_id)
        return user


def visible_trainee_ids(bind: Bind, user: UserRef) -> List[int]:
    """Trainees whose sessions ``user`` may see.

    A supervisor sees the trainees assigned to them, a trainee sees themself,
    and an unknown user sees nobody. Pass the result to ``list_sessions``.
    """
    with transaction(bind) as session:
        found = session.get(User, _user_id(user))
        if found is None:
            return []
        if found.role == "trainee":
            return [found.id]
        return list(
            session.execute(
                select(User.id)
                .where(User.supervisor_id == found.id, User.role == "trainee")
                .order_by(User.id)
            ).scalars()
        )


def can_view_session(session: Session, user: User, practice: PracticeSession) -> bool:
    """Whether ``user`` may see (and so comment on) ``practice``.

    Anonymous sessions (no trainee) belong to nobody and are visible to no one.
    """
    if practice.trainee_id is None:
        return False
    if user.role == "trainee":
        return bool(practice.trainee_id == user.id)
    owner = session.get(User, practice.trainee_id)
    return owner is not None and owner.supervisor_id == user.id
