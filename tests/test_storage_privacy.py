"""Contact masking and spreadsheet-safe export cells."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from introcoach.storage.privacy import csv_safe, mask_contacts


@pytest.mark.parametrize(
    "text,expected",
    [
        ("write to sam@example.org", "write to s***@example.org"),
        ("Sam.Lee+peer@mail.example.co.uk.", "S***@mail.example.co.uk."),
        ("<ana_b@x-y.org>", "<a***@x-y.org>"),
        ("call 555-123-4567 today", "call ***-***-4567 today"),
        ("(555) 123-4567", "(***) ***-4567"),
        ("+1 555 123 4567", "+* *** *** 4567"),
        ("+1 (555) 123-4567", "+* (***) ***-4567"),
        ("555.123.4567", "***.***.4567"),
        ("5551234567", "******4567"),
        ("+44 20 7946 0958", "+** ** **** 0958"),
        ("text me at 555-123-4567 or a@b.io", "text me at ***-***-4567 or a***@b.io"),
        # Left alone: not contacts.
        ("we met on 2024-01-15 at 10:30", "we met on 2024-01-15 at 10:30"),
        ("I scored 85 out of 100", "I scored 85 out of 100"),
        ("extension 555-1234", "extension 555-1234"),
        ("@handle and user@ and @example.org", "@handle and user@ and @example.org"),
        ("version 1.2.3", "version 1.2.3"),
        ("", ""),
    ],
)
def test_mask_contacts(text: str, expected: str) -> None:
    assert mask_contacts(text) == expected
    assert mask_contacts(expected) == expected


@pytest.mark.parametrize(
    "cell,expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_csv_safe(cell: Any, expected: Any) -> None:
    assert csv_safe(cell) == expected


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000 + "@", "a@" + "b" * 100_000, "1-" * 50_000, "a." * 50_000 + "@x"],
    ids=["local-run", "domain-run", "digit-groups", "dotted-run"],
)
def test_mask_contacts_stays_fast_on_long_input(text: str) -> None:
    started = time.perf_counter()
    mask_contacts(text)
    assert time.perf_counter() - started < 1.0


_words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=100, deadline=None)
@given(before=_words, email=st.emails(), after=_words)
def test_no_full_email_survives(before: str, email: str, after: str) -> None:
    masked = mask_contacts(f"{before} {email} {after}")
    assert email not in masked
    assert mask_contacts(masked) == masked


@settings(max_examples=100, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=10, max_size=10),
    layout=st.sampled_from(
        ["{a}-{b}-{c}", "({a}) {b}-{c}", "+1 {a} {b} {c}", "{a}.{b}.{c}", "{a}{b}{c}"]
    ),
    before=st.sampled_from(["", "call ", "phone: ", "me at\n"]),
    after=st.sampled_from(["", " thanks", ".", ", ok"]),
)
def test_phone_numbers_keep_only_last_four_digits(
    digits: str, layout: str, before: str, after: str
) -> None:
    phone = layout.format(a=digits[:3], b=digits[3:6], c=digits[6:])
    masked = mask_contacts(before + phone + after)
    assert re.sub(r"\D", "", masked) == digits[6:]


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_mask_contacts_never_raises_and_is_idempotent(text: str) -> None:
    masked = mask_contacts(text)
    assert isinstance(masked, str)
    assert mask_contacts(masked) == masked
