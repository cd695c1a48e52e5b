"""The role-play quality suite: load, run, check and write conversations.

Conversations live in ``conversations/*.yml`` beside this file (see the
README). They run either through the real servers over REST
(:func:`run_over_rest`, what ``make transcripts`` and the integration test do)
or straight through the reply planner without Rasa (:func:`run_on_planner`,
the quick unit loop). Every persona turn then goes through the same checks.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import yaml

SUITE_DIR = Path(__file__).resolve().parent / "conversations"
PARTS = ("tuning", "holdout")

# What a reader would call a breakdown: the persona giving up on the message.
FALLBACK = re.compile(
    r"didn't catch|did not catch|not sure I follow|lost me|don't quite understand|"
    r"say that again|not sure what you mean|I don't understand",
    re.I,
)

# Template artefacts: labels pasted into frames, fragments, doubled words.
ARTEFACTS = {
    "raw label after my/into/your": re.compile(
        r"\b(?:my|into|your|our)\s+(?:her|his|their|my|your)\b", re.I
    ),
    "unfilled placeholder": re.compile(r"\{[a-z_]+\}"),
    "doubled word": re.compile(r"\b(\w{2,})\s+\1\b", re.I),
    "dangling 'at the'": re.compile(r"\b(?:at|with|for) the\s*[,.!?]", re.I),
    "fragment echoed after 'A …!'": re.compile(
        r"\bAn? (?:[A-Za-z]+ ){0,1}(?:at|to|the|and|in|of)!"
    ),
    "article before a name": re.compile(r"\b(?:A|An) [A-Z][a-z]+ at\b"),
    "space before punctuation": re.compile(r"\s[,.!?]"),
    "None or empty value": re.compile(r"\bNone\b|\(\)|\s{2,}"),
    "label with possessive in a frame": re.compile(
        r"\b(?:you're|you are|get|got|getting) into (?:my|her|his|their)\b", re.I
    ),
}

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_KEY = re.compile(r"[^a-z0-9 ]+")

# Questions that ask for something the trainee may already have said.
ALREADY_TOLD = {
    "role": (
        re.compile(r"\b(?:i'?m|im|i am) (?:a|an|the)\b|\bi work\b|\bi do peer\b", re.I),
        re.compile(
            r"what (?:kind of )?(?:work|role|job)|"
            r"what do you do\b(?! for fun| to recharge| outside| when| on )|"
            r"what's your role",
            re.I,
        ),
    ),
    "name": (
        re.compile(r"\b(?:my name is|i'?m [A-Z][a-z]+\b|im [a-z]+,)", re.I),
        re.compile(r"what(?:'s| is) your name", re.I),
    ),
    "first_time": (
        re.compile(r"\bfirst (?:time|conference)\b", re.I),
        re.compile(r"\bfirst (?:time|conference)\b", re.I),
    ),
}

# Expected topic -> what in the reply's plan satisfies it.
EQUIVALENT = {
    "react": {
        "intro",
        "react",
        "their_interest",
        "dislike",
        "greeting",
        "shared_interest",
        "feeling",
        "empathy_ack",
        "own_reaction",
        "news",
    },
    "thanks": {"thanks"},
    "empathy_ack": {"empathy_ack", "thanks"},
    "feeling": {"feeling"},
    "interests": {"interests", "sports"},
}


def sentences(text: str) -> List[str]:
    """The sentences of a reply."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def key(sentence: str) -> str:
    """A sentence reduced for repeat checks."""
    return " ".join(_KEY.sub(" ", sentence.lower()).split())


@dataclass
class Turn:
    """One trainee message and what came back."""

    user: str
    expect: Dict[str, Any]
    persona: List[str] = field(default_factory=list)
    coach: List[str] = field(default_factory=list)
    plan: Dict[str, Any] = field(default_factory=dict)
    faults: List[str] = field(default_factory=list)

    @property
    def reply(self) -> str:
        return " ".join(self.persona)


@dataclass
class Transcript:
    """One scripted conversation, run."""

    id: str
    persona: str
    part: str
    note: str
    opener: List[str]
    turns: List[Turn]

    @property
    def faults(self) -> List[str]:
        return [f for t in self.turns for f in t.faults]


def load_conversations(folder: Path = SUITE_DIR) -> List[Dict[str, Any]]:
    """Every scripted conversation, in file order."""
    found: List[Dict[str, Any]] = []
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations") or []:
            conversation.setdefault("part", "tuning")
            conversation["source"] = path.stem
            found.append(conversation)
    return found


# -- drivers -----------------------------------------------------------------------


def _http(
    method: str,
    url: str,
    body: Optional[Dict[str, Any]] = None,
    rest_token: str = "",
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if rest_token:
        headers["Authorization"] = f"Bearer {rest_token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(
        request, timeout=120
    ) as response:  # noqa: S310 (loopback)
        return json.loads(response.read().decode() or "null")


def run_over_rest(
    conversation: Dict[str, Any], rasa_url: str, api_token: str, rest_token: str
) -> Transcript:
    """Run one conversation against the real Rasa and action servers.

    ``rest_token`` goes with every message (the REST channel's token);
    ``api_token`` reads the tracker back through Rasa's HTTP API.
    """
    sender = f"roleplay-{conversation['id']}-{uuid.uuid4().hex[:6]}"
    webhook = f"{rasa_url}/webhooks/rest/webhook"
    opening = _http(
        "POST",
        webhook,
        {
            "sender": sender,
            "message": "/session_start",
            "metadata": {"persona_id": conversation["persona"]},
        },
        rest_token,
    )
    opener = [r["text"] for r in opening or [] if r.get("text")]
    turns = [Turn(t["user"], t.get("expect") or {}) for t in conversation["turns"]]
    for turn in turns:
        _http("POST", webhook, {"sender": sender, "message": turn.user}, rest_token)
    tracker = _http(
        "GET", f"{rasa_url}/conversations/{sender}/tracker?token={api_token}"
    )
    index = -1
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "user" and (event.get("text") or "").strip() != "/session_start":
            index += 1
        elif kind == "bot" and 0 <= index < len(turns):
            metadata = event.get("metadata") or {}
            text = (event.get("text") or "").strip()
            if metadata.get("speaker") == "persona":
                turns[index].persona.append(text)
                turns[index].plan.update(metadata.get("plan") or {})
            elif text:
                turns[index].coach.append(text)
    return _checked(conversation, opener, turns)


def run_on_planner(conversation: Dict[str, Any]) -> Transcript:
    """Run one conversation through the reply planner alone (no Rasa)."""
    from introcoach.dialogue import PersonaVoice, hear
    from introcoach.personas import get_persona

    persona = get_persona(conversation["persona"])
    seed = f"roleplay-{conversation['id']}"
    opening = PersonaVoice(persona, seed=seed)
    memory: Any = opening.opening_state()
    turns = []
    for scripted in conversation["turns"]:
        turn = Turn(scripted["user"], scripted.get("expect") or {})
        voice = PersonaVoice(persona, memory, seed=seed)
        reply = voice.respond(hear(turn.user, persona))
        memory = reply.memory.to_dict()
        turn.persona.append(reply.text)
        turn.plan = dict(reply.plan)
        turns.append(turn)
    return _checked(conversation, opening.opening(), turns)


# -- checks ------------------------------------------------------------------------


def artefacts(text: str) -> List[str]:
    """Template artefacts in a reply (empty when it reads clean)."""
    return [name for name, pattern in ARTEFACTS.items() if pattern.search(text)]


def _topic_met(
    expected: str, plan: Dict[str, Any], previous: Optional[Dict[str, Any]] = None
) -> bool:
    answered = plan.get("answered")
    reacted = str(plan.get("reacted") or "")
    if expected == "follow_up":
        # A detail of what it just said: the reply stays on that thread.
        before = (previous or {}).get("answered")
        same_thread = before not in (None, "deflect") and answered == before
        return bool(plan.get("follow_up")) or same_thread
    if expected in plan.get("addressed", ()):
        return True
    if answered == expected or reacted.split(":")[0] == expected:
        return True
    allowed = EQUIVALENT.get(expected, set())
    return answered in allowed or reacted.split(":")[0] in allowed


def _checked(
    conversation: Dict[str, Any], opener: Sequence[str], turns: List[Turn]
) -> Transcript:
    said = Counter(key(s) for line in opener[1:] for s in sentences(line))
    told: Dict[str, bool] = {}
    previous: Dict[str, Any] = {}
    for turn in turns:
        reply = turn.reply
        if not reply.strip():
            turn.faults.append("empty reply")
        if FALLBACK.search(reply):
            turn.faults.append("fallback on an in-scope turn")
        for name in artefacts(reply):
            turn.faults.append(f"template artefact: {name}")
        questions = [s for s in sentences(reply) if s.endswith("?")]
        if len(questions) > 1:
            turn.faults.append("more than one question")
        for sentence in sentences(reply):
            k = key(sentence)
            if len(k.split()) > 2 and said[k]:
                turn.faults.append(f"repeated sentence: {sentence}")
            said[k] += 1
        for about, (_gave, asks) in ALREADY_TOLD.items():
            if told.get(about) and any(asks.search(q) for q in questions):
                turn.faults.append(f"asked what it was told: {about}")
        for about, (gave, _asks) in ALREADY_TOLD.items():
            if gave.search(turn.user):
                told[about] = True
        expect = turn.expect
        topic = expect.get("topic")
        if topic and not _topic_met(str(topic), turn.plan, previous):
            turn.faults.append(f"missed topic: expected {topic}, plan {turn.plan}")
        previous = turn.plan
        wanted = expect.get("must_contain_any") or []
        if wanted and not any(w.lower() in reply.lower() for w in wanted):
            turn.faults.append(f"missing any of {wanted}")
        for word in expect.get("must_not_contain") or []:
            if re.search(rf"\b{re.escape(word.lower())}", reply.lower()):
                turn.faults.append(f"contains '{word}'")
    return Transcript(
        id=conversation["id"],
        persona=conversation["persona"],
        part=conversation.get("part", "tuning"),
        note=conversation.get("note", ""),
        opener=list(opener),
        turns=turns,
    )


# -- reports -------------------------------------------------------------------------


def fault_kind(fault: str) -> str:
    """The kind of a fault, without its detail."""
    return fault.split(":")[0]


def summary(transcripts: Iterable[Transcript]) -> Dict[str, Dict[str, Any]]:
    """Figures per part: turns, faulty turns by kind, topic expectations met."""
    out: Dict[str, Dict[str, Any]] = {}
    for part in PARTS:
        chosen = [t for t in transcripts if t.part == part]
        turns = [turn for t in chosen for turn in t.turns]
        with_topic = [turn for turn in turns if turn.expect.get("topic")]
        missed = [
            turn
            for turn in with_topic
            if any(f.startswith("missed topic") for f in turn.faults)
        ]
        kinds = Counter(fault_kind(f) for turn in turns for f in turn.faults)
        out[part] = {
            "conversations": len(chosen),
            "persona_turns": len(turns),
            "faulty_turns": sum(1 for turn in turns if turn.faults),
            "topic_expectations": len(with_topic),
            "topic_met": len(with_topic) - len(missed),
            "faults_by_kind": dict(sorted(kinds.items())),
        }
    return out


def markdown(transcript: Transcript, with_checks: bool = True) -> str:
    """One conversation as readable Markdown."""
    lines = [f"# {transcript.id}", ""]
    if transcript.note and with_checks:
        lines += [f"_{transcript.note}_ ({transcript.part})", ""]
    for text in transcript.opener:
        who = "Scene" if text.startswith("(") else transcript.persona.title()
        lines += [f"**{who}:** {text}", ""]
    for number, turn in enumerate(transcript.turns, 1):
        lines += [f"**Trainee:** {turn.user}", ""]
        lines += [
            f"**{transcript.persona.title()}** (turn {number}): {text}"
            for text in turn.persona or ["_(no reply)_"]
        ]
        lines.append("")
        for text in turn.coach:
            lines += [f"> {text.splitlines()[0]}", ""]
        if with_checks and turn.faults:
            lines += [f"- check: {fault}" for fault in turn.faults]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
