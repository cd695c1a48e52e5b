"""CSRF protection: every POST carries its session's token in ``csrf_token``.

The token is made once per session (:class:`introcoach.web.auth.WebSession`),
put into every form by the templates, and compared in constant time. The
session cookie is also ``SameSite=Lax``, so other sites' forms do not send it.
"""

from __future__ import annotations

import hmac
from typing import Optional

from introcoach.web.auth import WebSession

FIELD = "csrf_token"


def token_is_valid(session: Optional[WebSession], submitted: Optional[str]) -> bool:
    """Whether ``submitted`` is the token of ``session``.

    Args:
        session: The request's session (None when the cookie is missing).
        submitted: The form's ``csrf_token`` value.

    Returns:
        True only when both exist and match.

    """
    if session is None or not submitted:
        return False
    return hmac.compare_digest(
        session.csrf_token.encode("ascii"), submitted.encode("utf-8", "replace")
    )
