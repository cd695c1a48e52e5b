"""Storage: IntroCoach's own tables and the functions that read and write them.

Rasa keeps conversations in its tracker store; this package keeps users,
practice sessions (one per Rasa sender id), scores, supervisor comments and
verdicts. Configure with ``INTROCOACH_DATABASE_URL`` (default: a SQLite file in
``var/``); create or upgrade the schema with :func:`init_db`.

Every repository function takes an engine or a session first::

    engine = get_engine()
    init_db(engine)
    practice = start_session(engine, sender_id, "dana", "pitch")
"""

from introcoach.storage.db import (
    database_url,
    dispose_engines,
    get_engine,
    init_db,
    make_engine,
    transaction,
)
from introcoach.storage.errors import NotFound, UsernameTaken
from introcoach.storage.models import (
    Comment,
    CriterionVerdict,
    PracticeSession,
    Score,
    ScoreCriterion,
    User,
)
from introcoach.storage.practice import (
    delete_session,
    delete_sessions_older_than,
    end_session,
    get_session,
    list_scores,
    list_sessions,
    record_score,
    start_session,
)
from introcoach.storage.privacy import csv_safe, mask_contacts
from introcoach.storage.review import (
    CriterionAgreement,
    add_comment,
    agreement_by_criterion,
    comments_for_trainee,
    delete_comment,
    edit_comment,
    list_comments,
    set_verdict,
)
from introcoach.storage.users import (
    assign_trainee,
    configure_password_hasher,
    create_user,
    get_user,
    verify_password,
    visible_trainee_ids,
)

__all__ = [
    "Comment",
    "CriterionAgreement",
    "CriterionVerdict",
    "NotFound",
    "PracticeSession",
    "Score",
    "ScoreCriterion",
    "User",
    "UsernameTaken",
    "add_comment",
    "agreement_by_criterion",
    "assign_trainee",
    "configure_password_hasher",
    "create_user",
    "csv_safe",
    "database_url",
    "delete_comment",
    "delete_session",
    "delete_sessions_older_than",
    "dispose_engines",
    "edit_comment",
    "end_session",
    "get_engine",
    "get_session",
    "get_user",
    "init_db",
    "comments_for_trainee",
    "list_comments",
    "list_scores",
    "list_sessions",
    "make_engine",
    "mask_contacts",
    "record_score",
    "set_verdict",
    "start_session",
    "transaction",
    "verify_password",
    "visible_trainee_ids",
]
