"""Privacy helpers for showing and exporting practice transcripts.

Masking rules (kept short so a reviewer can still follow the conversation):

* Email addresses keep the first character of the local part and the domain:
  ``sam.lee@example.org`` becomes ``s***@example.org``.
* Phone numbers keep their punctuation and their last four digits; every other
  digit becomes ``*``: ``(555) 123-4567`` becomes ``(***) ***-4567`` and
  ``+1 555 123 4567`` becomes ``+* *** *** 4567``. A phone number here is a run
  of 10 to 15 digits in groups separated by single spaces, dots or hyphens,
  optionally with a ``+`` country code and a bracketed area code. Shorter
  numbers (dates, times, scores, 7-digit local numbers) are left alone.

Masking is idempotent: masking masked text changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

# Lengths are bounded (RFC 5321: 64-character local part, 63-character labels)
# so a long run of address characters cannot make matching quadratic.
_EMAIL = re.compile(
    r"(?P<first>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-])"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{0,63}"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,30}"
    r"[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])"
)

_PHONE = re.compile(
    r"""
    (?<![\w@+.-])              # not the tail of a word, number or address
    (?:\+\d{1,3}[ .-]?)?       # country code
    (?:\(\d{1,4}\)[ .-]?)?     # area code in brackets
    \d{2,5}(?:[ .-]?\d{2,5}){1,4}
    (?![\w@]|[.-]\d)           # not the head of a longer token
    """,
    re.VERBOSE,
)
_MIN_PHONE_DIGITS = 10
_MAX_PHONE_DIGITS = 15
_KEEP_DIGITS = 4

# Characters that make a spreadsheet treat a cell as a formula (OWASP list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group('first')}***@{match.group('domain')}"


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        return text
    hide = digits - _KEEP_DIGITS
    out = []
    for char in text:
        if char.isdigit() and hide > 0:
            out.append("*")
            hide -= 1
        else:
            out.append(char)
    return "".join(out)


def mask_contacts(text: str) -> str:
    """Mask email addresses and phone numbers in ``text`` (see the module doc).

    Args:
        text: Any text, e.g. a trainee's message.

    Returns:
        The text with contacts masked; everything else unchanged.

    """
    if not text:
        return text
    return _PHONE.sub(_mask_phone, _EMAIL.sub(_mask_email, text))


def csv_safe(cell: Any) -> Any:
    """Neutralise a cell a spreadsheet would run as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading apostrophe, which spreadsheets show as text. Numbers and
    other values are returned unchanged, so ``-5`` stays a number.

    Args:
        cell: One value for a CSV row.

    Returns:
        The value, safe to write.

    """
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell
