"""What the review pages show, built from storage rows (no Sanic, no HTML files).

The only HTML made here is :func:`highlight`: it escapes every piece of the
text and wraps exact evidence substrings in ``<mark>``; nothing from the
transcript reaches the page unescaped.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from markupsafe import Markup, escape

from introcoach.storage import csv_safe, mask_contacts
from introcoach.storage.models import Comment, PracticeSession, Score, User
from introcoach.storage.transcripts import Turn

SPEAKER_LABELS = {"trainee": "Trainee", "narrator": "Scene", "coach": "Coach"}


def criterion_label(criterion_id: str) -> str:
    """The rubric's short label for a criterion ("Your name")."""
    from introcoach.scoring.rubric import criteria_by_id

    found = criteria_by_id().get(criterion_id)
    return found.label if found else criterion_id.replace("_", " ")


def persona_name(persona_id: Optional[str]) -> str:
    """The persona's full name, or its id when the persona file lacks it."""
    if not persona_id:
        return "Persona"
    from introcoach.personas import PersonaError, find_persona

    try:
        persona = find_persona(persona_id)
    except PersonaError:
        persona = None
    return persona.name if persona else persona_id


def highlight(text: str, spans: Iterable[str]) -> Markup:
    """Escape ``text`` and wrap every occurrence of each span in ``<mark>``.

    Positions are found in the raw text and every piece is escaped on its own,
    so neither the text nor a span can add markup.

    Args:
        text: The message.
        spans: Exact substrings to mark (evidence); others are ignored.

    Returns:
        Safe HTML.

    """
    ranges: List[Tuple[int, int]] = []
    for span in {s for s in spans if s}:
        start = text.find(span)
        while start != -1:
            ranges.append((start, start + len(span)))
            start = text.find(span, start + len(span))
    merged: List[List[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: List[str] = []
    position = 0
    for start, end in merged:
        out.append(str(escape(text[position:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    out.append(str(escape(text[position:])))
    return Markup("".join(out))


def duration_seconds(practice: PracticeSession) -> Optional[int]:
    """Seconds from start to end, or None while the session is open."""
    if practice.ended_at is None or practice.started_at is None:
        return None
    return max(0, int((practice.ended_at - practice.started_at).total_seconds()))


def format_duration(seconds: Optional[int]) -> str:
    """``12 min 5 s`` style, or an em dash when unknown."""
    if seconds is None:
        return "—"
    minutes, rest = divmod(seconds, 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def format_time(value: Optional[datetime]) -> str:
    """UTC, to the minute."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


@dataclass
class CriterionView:
    """One criterion of a score card, with the reviewer's verdict."""

    id: str
    label: str
    met: bool
    score: float
    evidence: Optional[str]
    tip: Optional[str]
    verdict: Optional[bool] = None

    @property
    def agrees(self) -> Optional[bool]:
        """Whether the reviewer's verdict matches the bot (None: no verdict)."""
        return None if self.verdict is None else self.verdict == self.met


@dataclass
class StrategyView:
    """One strategy's score and criteria."""

    number: int
    title: str
    score: int
    criteria: List[CriterionView]


@dataclass
class ScoreCard:
    """One stored score, as shown beside the transcript."""

    id: int
    kind: str
    overall: int
    rubric_version: str
    message_id: str
    created_at: Optional[datetime]
    word_count: Optional[int]
    strategies: List[StrategyView]
    turn_index: Optional[int] = None

    def evidence(self) -> List[Tuple[str, str]]:
        """(criterion id, evidence) of every met criterion with evidence."""
        return [
            (c.id, c.evidence)
            for s in self.strategies
            for c in s.criteria
            if c.met and c.evidence
        ]


def score_cards(
    scores: Sequence[Score],
    verdicts: Mapping[Tuple[int, str], bool],
    mask: bool,
) -> List[ScoreCard]:
    """Score cards from stored scores (their report JSON), oldest first.

    Args:
        scores: The session's scores.
        verdicts: The reviewer's verdicts by (score id, criterion id).
        mask: Mask contact details in evidence.

    Returns:
        One card per score.

    """
    cards = []
    for score in scores:
        report: Dict[str, Any] = score.report if isinstance(score.report, dict) else {}
        strategies = []
        # Report order: strategy 6 (60 % of the overall score) first.
        for strategy in report.get("strategies", []):
            criteria = []
            for item in strategy.get("criteria", []):
                evidence = item.get("evidence")
                if evidence and mask:
                    evidence = mask_contacts(evidence)
                criteria.append(
                    CriterionView(
                        id=str(item.get("id")),
                        label=criterion_label(str(item.get("id"))),
                        met=bool(item.get("met")),
                        score=float(item.get("score") or 0),
                        evidence=evidence,
                        tip=item.get("tip"),
                        verdict=verdicts.get((score.id, str(item.get("id")))),
                    )
                )
            strategies.append(
                StrategyView(
                    number=int(strategy.get("number", 0)),
                    title=str(strategy.get("title", "")),
                    score=int(strategy.get("score", 0)),
                    criteria=criteria,
                )
            )
        cards.append(
            ScoreCard(
                id=score.id,
                kind=score.kind,
                overall=score.overall,
                rubric_version=score.rubric_version,
                message_id=score.message_id,
                created_at=score.created_at,
                word_count=report.get("word_count"),
                strategies=strategies,
            )
        )
    return cards


@dataclass
class TurnView:
    """One message of the transcript page."""

    turn: Turn
    label: str
    text: str
    html: Markup
    met: List[Tuple[str, str]] = field(default_factory=list)
    cards: List[ScoreCard] = field(default_factory=list)
    comments: List[Comment] = field(default_factory=list)

    @property
    def index(self) -> int:
        """The turn's index (comments refer to it)."""
        return self.turn.index


def _covered_turns(turns: Sequence[Turn], card: ScoreCard) -> List[int]:
    """Indexes of the trainee turns a score covers.

    A pitch score covers the scored message; a conversation score covers the
    trainee's turns since the conversation with the persona began (the last
    ``segment_start`` narration), up to and including the scored message.
    """
    position = next(
        (t.index for t in turns if t.message_id and t.message_id == card.message_id),
        None,
    )
    if position is None:
        return []
    if card.kind == "pitch":
        return [position]
    start = 0
    for turn in turns[: position + 1]:
        if turn.segment_start:
            start = turn.index
    return [t.index for t in turns[start : position + 1] if t.speaker == "trainee"]


def turn_views(
    turns: Sequence[Turn],
    cards: Sequence[ScoreCard],
    comments: Sequence[Comment],
    mask: bool,
) -> List[TurnView]:
    """The transcript with speaker labels, evidence highlighted and comments.

    A trainee turn's evidence is every met criterion's evidence (from the
    scores covering that turn) that is a substring of the turn's text.

    Args:
        turns: The transcript.
        cards: The session's score cards.
        comments: The session's comments (those on a turn are attached to it).
        mask: Mask contact details in the text and the evidence.

    Returns:
        One view per turn, in order.

    """
    evidence: Dict[int, List[Tuple[str, str]]] = {}
    for card in cards:
        covered = _covered_turns(turns, card)
        for index in covered:
            evidence.setdefault(index, []).extend(card.evidence())
        scored = next((t.index for t in turns if t.message_id == card.message_id), None)
        card.turn_index = scored
    views = []
    for turn in turns:
        text = mask_contacts(turn.text) if mask else turn.text
        met: List[Tuple[str, str]] = []
        for criterion_id, span in evidence.get(turn.index, []):
            if span in text and (criterion_id, span) not in met:
                met.append((criterion_id, span))
        if turn.speaker in ("persona",):
            label = persona_name(turn.persona_id)
        else:
            label = SPEAKER_LABELS.get(turn.speaker, turn.speaker.title())
        views.append(
            TurnView(
                turn=turn,
                label=label,
                text=text,
                html=highlight(text, [span for _, span in met]),
                met=met,
                cards=[c for c in cards if c.turn_index == turn.index],
                comments=[c for c in comments if c.turn_index == turn.index],
            )
        )
    return views


# -- exports --------------------------------------------------------------------

LIST_COLUMNS = (
    "session_id",
    "trainee_id",
    "trainee",
    "persona_id",
    "persona",
    "mode",
    "started_at",
    "ended_at",
    "duration_seconds",
    "overall_score",
    "strategy_4_score",
    "strategy_6_score",
)


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value else None


def session_summary(
    practice: PracticeSession, trainees: Mapping[int, User]
) -> Dict[str, Any]:
    """A practice session as one flat record (list export, JSON export)."""
    trainee = trainees.get(practice.trainee_id) if practice.trainee_id else None
    return {
        "session_id": practice.id,
        "trainee_id": practice.trainee_id,
        "trainee": trainee.display_name if trainee else None,
        "persona_id": practice.persona_id,
        "persona": persona_name(practice.persona_id),
        "mode": practice.mode,
        "started_at": _iso(practice.started_at),
        "ended_at": _iso(practice.ended_at),
        "duration_seconds": duration_seconds(practice),
        "overall_score": practice.overall_score,
        "strategy_4_score": practice.strategy_4_score,
        "strategy_6_score": practice.strategy_6_score,
    }


def to_csv(columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header row; every cell passes through ``csv_safe``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(
            [csv_safe("" if record.get(c) is None else record.get(c)) for c in columns]
        )
    return buffer.getvalue()


def to_json(document: Any) -> str:
    """Pretty JSON, UTF-8 kept readable."""
    return json.dumps(document, ensure_ascii=False, indent=2)


TRANSCRIPT_COLUMNS = (
    "session_id",
    "turn",
    "timestamp",
    "speaker",
    "name",
    "text",
    "criteria_met",
)


def transcript_records(
    practice: PracticeSession, views: Sequence[TurnView]
) -> List[Dict[str, Any]]:
    """One record per turn for the session export (text already masked)."""
    return [
        {
            "session_id": practice.id,
            "turn": view.index,
            "timestamp": _iso(view.turn.timestamp),
            "speaker": view.turn.speaker,
            "name": view.label,
            "text": view.text,
            "criteria_met": ";".join(c for c, _ in view.met),
        }
        for view in views
    ]


def session_document(
    practice: PracticeSession,
    trainees: Mapping[int, User],
    views: Sequence[TurnView],
    cards: Sequence[ScoreCard],
    comments: Sequence[Comment],
    authors: Mapping[int, str],
    masked: bool,
) -> Dict[str, Any]:
    """The JSON export of one session."""
    return {
        "session": session_summary(practice, trainees),
        "contacts_masked": masked,
        "turns": transcript_records(practice, views),
        "scores": [
            {
                "score_id": card.id,
                "kind": card.kind,
                "overall": card.overall,
                "rubric_version": card.rubric_version,
                "turn": card.turn_index,
                "created_at": _iso(card.created_at),
                "strategies": [
                    {
                        "number": s.number,
                        "title": s.title,
                        "score": s.score,
                        "criteria": [
                            {
                                "id": c.id,
                                "met": c.met,
                                "score": c.score,
                                "evidence": c.evidence,
                                "tip": c.tip,
                                "your_verdict": c.verdict,
                            }
                            for c in s.criteria
                        ],
                    }
                    for s in card.strategies
                ],
            }
            for card in cards
        ],
        "comments": [
            {
                "comment_id": c.id,
                "turn": c.turn_index,
                "author": authors.get(c.author_id),
                "created_at": _iso(c.created_at),
                "updated_at": _iso(c.updated_at),
                "body": c.body,
            }
            for c in comments
        ],
    }


# -- progress plot ----------------------------------------------------------------


@dataclass
class Plot:
    """Coordinates for the server-rendered progress chart (inline SVG)."""

    width: int
    height: int
    left: int
    top: int
    inner_width: int
    inner_height: int
    series: List[Dict[str, Any]]
    x_labels: List[Dict[str, Any]]
    y_ticks: List[Dict[str, Any]]


def progress_plot(
    sessions: Sequence[PracticeSession], width: int = 720, height: int = 280
) -> Plot:
    """Each strategy's score per session, oldest first, as SVG coordinates.

    Args:
        sessions: The trainee's scored sessions, oldest first.
        width: Width of the SVG's view box.
        height: Height of the SVG's view box.

    Returns:
        Points (and axis labels) in view-box units; sessions without a score
        for a strategy leave a gap in its line.

    """
    left, right, top, bottom = 44, 16, 16, 40
    inner_w, inner_h = width - left - right, height - top - bottom
    count = len(sessions)

    def x(position: int) -> float:
        if count <= 1:
            return left + inner_w / 2
        return round(left + inner_w * position / (count - 1), 1)

    def y(value: int) -> float:
        return round(top + inner_h * (1 - value / 100), 1)

    series = []
    for key, name, css in (
        ("strategy_6_score", "Strategy 6: introduce yourself", "s6"),
        ("strategy_4_score", "Strategy 4: common interests", "s4"),
        ("overall_score", "Overall", "overall"),
    ):
        points = []
        for position, practice in enumerate(sessions):
            value = getattr(practice, key)
            if value is not None:
                points.append(
                    {
                        "x": x(position),
                        "y": y(int(value)),
                        "value": int(value),
                        "session_id": practice.id,
                        "date": format_time(practice.started_at),
                    }
                )
        series.append(
            {
                "name": name,
                "css": css,
                "points": points,
                "path": " ".join(f"{p['x']},{p['y']}" for p in points),
            }
        )
    step = max(1, count // 8)
    x_labels = [
        {
            "x": x(position),
            "text": practice.started_at.strftime("%b %d")
            if practice.started_at
            else "",
        }
        for position, practice in enumerate(sessions)
        if position % step == 0 or position == count - 1
    ]
    y_ticks = [{"y": y(v), "value": v} for v in (0, 25, 50, 75, 100)]
    return Plot(width, height, left, top, inner_w, inner_h, series, x_labels, y_ticks)
