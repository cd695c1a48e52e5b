"""Turn a score report into words: tips, praise, comparisons, hints."""

from __future__ import annotations

import textwrap
from typing import List, Optional, Sequence, Set

from introcoach.personas import Persona
from introcoach.scoring import detectors as d
from introcoach.scoring.pipeline import analyse_many
from introcoach.scoring.report import CriterionResult, ScoreReport
from introcoach.scoring.rubric import CITATION, criteria_by_id, strategies
from introcoach.scoring.scorer import Turn, fill, persona_vars

_WIDTH = 78


def ranked_missed(report: ScoreReport) -> List[CriterionResult]:
    """Criteria not fully met, most overall points to gain first."""
    missed = []
    total_weight = sum(s.weight for s in report.strategies) or 1
    for strategy in report.strategies:
        crit_total = sum(c.weight for c in strategy.criteria) or 1
        for crit in strategy.criteria:
            if crit.score >= 1.0 or not crit.tip:
                continue
            gain = strategy.weight / total_weight * crit.weight / crit_total
            missed.append((gain * (1 - crit.score), crit))
    missed.sort(key=lambda item: -item[0])
    return [crit for _, crit in missed]


def top_tips(report: ScoreReport, n: int = 2) -> List[str]:
    """Return the ``n`` tips worth the most points, best first."""
    return [c.tip for c in ranked_missed(report)[:n] if c.tip]


def stretch_goal(report: ScoreReport) -> str:
    """One goal beyond the top tips (set when scored; generic for stored ones)."""
    if report.stretch:
        return report.stretch
    missed = ranked_missed(report)
    if len(missed) > 2 and missed[2].tip:
        return missed[2].tip
    return (
        "Try it again with a different persona and find a new piece of common ground."
    )


def what_worked(report: ScoreReport) -> List[str]:
    """Praise for each met criterion, with its evidence, weightiest first."""
    met = [c for s in report.strategies for c in s.criteria if c.met]
    met.sort(key=lambda c: -c.weight)
    lines = []
    for crit in met:
        praise = crit.praise or criteria_by_id()[crit.id].praise
        praise = fill(praise, {"first": "them"})
        if crit.evidence:
            lines.append(f'{praise}: "{_clip(crit.evidence)}"')
        else:
            lines.append(f"{praise}.")
    return lines


def _clip(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _wrap(text: str, indent: str) -> List[str]:
    return textwrap.wrap(
        text, _WIDTH, initial_indent=indent, subsequent_indent=indent + "  "
    ) or [indent]


def format_report(report: ScoreReport) -> str:
    """Format a plain-text report for a terminal or ``rasa shell``.

    Shows the overall score, each strategy's score with its met [x] and missed
    [ ] criteria (with evidence quotes), what worked, the two most useful tips,
    one stretch goal and, for conversations, the interests never discovered.
    """
    who = report.persona_name or report.persona
    kind = {"intro": "Introduction", "pitch": "Pitch", "conversation": "Conversation"}
    lines = [
        f"{kind.get(report.mode, report.mode)} score: {report.overall}/100"
        f"  (with {who}; {report.word_count} words, about "
        f"{round(report.estimated_seconds)} s)",
    ]
    labels = {c.id: c.label for c in criteria_by_id().values()}
    for strategy in report.strategies:
        lines.append("")
        lines.append(
            f"Strategy {strategy.number}: {strategy.title}: {strategy.score}/100"
        )
        for crit in strategy.criteria:
            mark = "x" if crit.met else ("~" if crit.score > 0 else " ")
            label = labels.get(crit.id, crit.id)
            text = f"[{mark}] {label}"
            if crit.evidence:
                text += f': "{_clip(crit.evidence)}"'
            lines.extend(_wrap(text, "  "))
    worked = what_worked(report)[:3]
    if worked:
        lines.append("")
        lines.append("What worked:")
        for item in worked:
            lines.extend(_wrap(f"- {item}", "  "))
    tips = top_tips(report)
    if tips:
        lines.append("")
        lines.append("Top tips:")
        for number, tip in enumerate(tips, start=1):
            lines.extend(_wrap(f"{number}. {tip}", "  "))
    lines.append("")
    lines.extend(_wrap(f"Stretch goal: {stretch_goal(report)}", ""))
    if report.mode == "conversation" and report.undiscovered:
        lines.append("")
        lines.extend(
            _wrap(
                f"Interests of {who.split()[0]} you never discovered: "
                + ", ".join(report.undiscovered),
                "",
            )
        )
    lines.append("")
    lines.append(f"Rubric {report.rubric_version}, after {CITATION}.")
    return "\n".join(lines)


def compare_reports(current: ScoreReport, previous: ScoreReport) -> str:
    """One or two sentences on what changed since the previous try.

    Examples: "+15 since your last try: you added a question." or "Same score
    as last time (72)." Criteria are named in words, as the trainee reads them.
    """
    now, before = current.criteria(), previous.criteria()
    defs = criteria_by_id()
    gained = [i for i, c in now.items() if c.met and i in before and not before[i].met]
    lost = [i for i, c in now.items() if not c.met and i in before and before[i].met]

    def phrase(ids: Sequence[str], attr: str) -> str:
        parts = []
        for cid in ids[:3]:
            words = getattr(defs[cid], attr) if cid in defs else cid
            parts.append(fill(words, {"first": "them"}))
        return _join(parts)

    diff = current.overall - previous.overall
    changes = []
    if gained:
        changes.append(phrase(gained, "gain"))
    if lost:
        changes.append(phrase(lost, "loss"))
    detail = "; ".join(changes)
    if diff == 0:
        text = f"Same score as last time ({current.overall})"
        text += f": {detail}." if detail else "."
    else:
        sign = "+" if diff > 0 else "-"
        text = f"{sign}{abs(diff)} since your last try"
        text += f": {detail}." if detail else "."
    if current.mode != previous.mode or current.persona != previous.persona:
        text += " (Different mode or persona, so compare with care.)"
    return text


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def rubric_plain_words(mode: str = "intro") -> str:
    """Explain what the trainee will be scored on, in plain words.

    Args:
        mode: "intro", "pitch" or "conversation".

    """
    if mode not in ("intro", "pitch", "conversation"):
        mode = "intro"
    what = {
        "intro": "your introduction",
        "pitch": "your pitch",
        "conversation": "the conversation",
    }[mode]
    lines = [
        f"I score {what} on two networking strategies from Gino, Kouchaki & "
        'Casciaro (2016), "Learn to love networking" (Harvard Business Review):',
    ]
    for strategy in strategies():
        crits = strategy.criteria_for(mode)
        lines.append("")
        lines.append(
            f"Strategy {strategy.number}, {strategy.short} "
            f"({strategy.weight}% of the score):"
        )
        for crit in crits:
            plain = fill(crit.plain, {"first": "the other person"})
            lines.append(f"- {plain} ({crit.weights[mode]} points)")
    lines.append("")
    lines.append(
        "Each strategy is scored out of 100; you get tips for what's missing. "
        "Nothing here is a test: it's practice."
    )
    return "\n".join(lines)


def suggest_hint(turns: Sequence[Turn], persona: Persona) -> str:
    """Suggest the next useful move in the conversation, without scoring it.

    Order: introduce yourself; pick up an interest the persona just mentioned;
    say what you do; ask about their work; pick up an interest mentioned
    earlier; look for common ground; follow up; after many turns, close.

    Args:
        turns: The conversation so far (may be empty).
        persona: The persona.

    """
    values = persona_vars(persona)
    first, obj = values["first"], values["obj"]
    checked = _safe_turns(turns)
    if not any(t.speaker == "user" and t.text.strip() for t in checked):
        return (
            f"Introduce yourself to {first}: your name, what you do, and one "
            f"question about {obj}."
        )
    facts = d.persona_facts(persona)
    docs = analyse_many([t.text for t in checked])
    utts = [
        d.make_utterance(t.text, doc, persona)
        for t, doc in zip(checked, docs)  # noqa: B905
    ]
    user = [u for u, t in zip(utts, checked) if t.speaker == "user"]  # noqa: B905
    user_interests = {m.interest for u in user for m in u.mentions if not m.negated}
    pending = _pending_interest(checked, utts, user_interests)
    last_persona = _last_persona_interest(checked, utts)
    if last_persona and last_persona not in user_interests:
        return f"{first} mentioned {last_persona}: ask {obj} about it."
    if not any(d.detect_name(u) for u in user):
        return f"You haven't told {first} your name yet: introduce yourself."
    if not any(d.detect_role(u) for u in user):
        return f"Tell {first} what you do, in one sentence."
    if not any(d.detect_discovery(u, facts) for u in user):
        return (
            f"Ask about {first}'s work: \"What does a typical week look like "
            f"for you as {values['role_article']}?\""
        )
    if pending:
        return f"{first} mentioned {pending}: ask {obj} about it."
    if not user_interests:
        return (
            f"Look for common ground: ask what {first} enjoys outside work, or "
            "mention something you enjoy."
        )
    if len(user) >= 8 and not d.detect_close(user[-1]):
        return f"Start wrapping up: thank {first} and suggest a next step."
    return f"Keep it going: ask a follow-up question about what {first} just said."


def _safe_turns(turns: Sequence[Turn]) -> List[Turn]:
    safe = []
    for turn in turns or ():
        speaker = getattr(turn, "speaker", None)
        text = getattr(turn, "text", None)
        if isinstance(turn, dict):
            speaker, text = turn.get("speaker"), turn.get("text")
        if speaker in ("user", "persona") and isinstance(text, str):
            safe.append(Turn(speaker, text))
    return safe


def _pending_interest(
    turns: Sequence[Turn], utts: Sequence[d.Utterance], picked_up: Set[str]
) -> Optional[str]:
    for turn, utt in zip(turns, utts):  # noqa: B905 (3.8 has no strict=)
        if turn.speaker == "persona":
            for mention in utt.mentions:
                if not mention.negated and mention.interest not in picked_up:
                    return mention.interest
    return None


def _last_persona_interest(
    turns: Sequence[Turn], utts: Sequence[d.Utterance]
) -> Optional[str]:
    if not turns or turns[-1].speaker != "persona":
        return None
    for mention in utts[-1].mentions:
        if not mention.negated:
            return mention.interest
    return None
