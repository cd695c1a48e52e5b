"""Headless Chromium for the browser tests: Debian's chromium, driven by Playwright.

Playwright's own browser download cannot work here (and is never used): the
tests launch ``/usr/bin/chromium`` (or ``INTROCOACH_CHROMIUM``) with flags that
stop it from making any outside connection. Screenshots go to
``test-artifacts/``. The ``browser`` and ``page`` fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("INTROCOACH_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def sign_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
