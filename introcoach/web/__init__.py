"""The supervisor review web app (Sanic, server-rendered, no JavaScript).

Build it with :func:`create_app` and serve it with ``introcoach web``; nothing
here opens a database or reads a file at import time.
"""

from introcoach.web.app import create_app
from introcoach.web.auth import web_secret

__all__ = ["create_app", "web_secret"]
