"""Conference attendees that the assistant role-plays.

Personas are data: they live in ``personas.yml`` beside this module (or in a
file named by ``INTROCOACH_PERSONAS``) and are read when first needed. The keys
``id``, ``name``, ``role``, ``organization`` and ``interests`` are enough to
define a working persona; every other key has a default derived from those.
"""

from __future__ import annotations

import functools
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

DEFAULT_PERSONAS_FILE = Path(__file__).with_name("personas.yml")
REQUIRED_KEYS = ("id", "name", "role", "organization", "interests")
PERSONALITIES = ("warm", "busy", "reserved", "curious")
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class PersonaError(ValueError):
    """A persona file or entry is missing, malformed or incomplete."""


#: Topic keys every full persona should cover (``introcoach personas check``).
STANDARD_TOPICS = (
    "day_to_day",
    "who_they_serve",
    "organization",
    "access",
    "story",
    "proud",
    "worried",
    "advice",
    "session",
    "trip",
    "plans",
)
#: What a persona's question can be about; see docs/personas.md.
QUESTION_ABOUT = (
    "name",
    "role",
    "organization",
    "clients",
    "story",
    "first_time",
    "sessions",
    "origin",
    "interests",
    "plans",
    "field_time",
    "wellbeing",
    "other",
)
INTEREST_KINDS = ("work", "personal")


@dataclass(frozen=True)
class Interest:
    """One interest with the forms every sentence frame needs.

    Attributes:
        label: A bare noun phrase that reads after "into", "about", "love".
        kind: ``work`` (a professional passion) or ``personal`` (a hobby).
        mine: How the persona names it ("my rescue dog, Biscuit").
        theirs: How it is said back to the trainee ("dogs").
        story: A first-person detail, or "" when the persona file has none.
        variants: Other words a trainee might use for it.
    """

    label: str
    kind: str = "personal"
    mine: str = ""
    theirs: str = ""
    story: str = ""
    variants: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    """Something the persona can talk about when asked."""

    key: str
    asks: Tuple[str, ...]
    answers: Tuple[str, ...]
    #: For a ``knowledge`` item: the topic it belongs to ("" when none).
    parent: str = ""


@dataclass(frozen=True)
class Reaction:
    """What the persona says when the trainee tells it something about its world."""

    hears: Tuple[str, ...]
    says: Tuple[str, ...]


@dataclass(frozen=True)
class PersonaQuestion:
    """A question the persona asks, and what the answer tells it."""

    text: str
    about: str = "other"


@dataclass(frozen=True)
class Persona:
    """One conference attendee.

    Attributes mirror the YAML schema documented in the README. Optional fields
    are filled with defaults by :func:`persona_from_dict`.
    """

    id: str
    name: str
    role: str
    organization: str
    interests: Tuple[str, ...]
    hidden_interests: Tuple[str, ...] = ()
    interest_keywords: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    personality: str = "warm"
    pronouns: str = "they/them"
    scene: str = ""
    opener: str = ""
    facts: Tuple[str, ...] = ()
    questions: Tuple[str, ...] = ()
    interest_details: Mapping[str, Interest] = field(default_factory=dict)
    topics: Mapping[str, Topic] = field(default_factory=dict)
    deflections: Tuple[str, ...] = ()
    asked: Tuple[PersonaQuestion, ...] = ()
    #: Specific questions and their answers, keyed ``knowledge:<n>``.
    knowledge: Mapping[str, Topic] = field(default_factory=dict)
    reactions: Tuple[Reaction, ...] = ()
    #: Keys the persona file left out and the loader filled from defaults.
    defaulted: Tuple[str, ...] = ()

    def find_topic(self, key: str) -> Optional[Topic]:
        """A topic or a knowledge item by its key."""
        return self.topics.get(key) or self.knowledge.get(key)

    def interest(self, label: str) -> Interest:
        """The display forms of one interest (derived when the file gave a string)."""
        found = self.interest_details.get(label)
        return found if found is not None else _plain_interest(label, ())

    @property
    def first_name(self) -> str:
        """The name the persona goes by in conversation."""
        return self.name.split()[0]

    @property
    def initials(self) -> str:
        """Up to two initials, for an avatar."""
        parts = [p for p in self.name.split() if p[:1].isalpha()]
        return "".join(p[0].upper() for p in parts[:2]) or self.name[:1].upper()

    def card(self) -> Dict[str, str]:
        """Who the persona is, as the chat widget's header and payloads show it."""
        return {
            "id": self.id,
            "name": self.name,
            "initials": self.initials,
            "role": self.role,
            "organization": self.organization,
        }

    @property
    def all_interests(self) -> Tuple[str, ...]:
        """Open interests first, then the ones revealed only when asked."""
        return self.interests + self.hidden_interests

    def keywords_for(self, interest: str) -> Tuple[str, ...]:
        """The interest itself followed by its known variants."""
        return (interest,) + tuple(self.interest_keywords.get(interest, ()))

    def role_with_article(self) -> str:
        """The role with "a" or "an" in front ("a hospital discharge planner")."""
        return f"{_article(self.role)} {self.role}"

    def summary(self) -> str:
        """One line: name, role, organization."""
        return f"{self.name}, {self.role} at {self.organization}"


def _as_str_tuple(value: Any, key: str, persona_id: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PersonaError(f"persona '{persona_id}': '{key}' must be a list of strings")
    items = []
    for item in value:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise PersonaError(
                f"persona '{persona_id}': '{key}' must be a list of strings"
            )
        text = str(item).strip()
        if text:
            items.append(text)
    return tuple(items)


def _required_text(data: Mapping[str, Any], key: str, persona_id: str) -> str:
    value = data.get(key)
    if (
        not isinstance(value, (str, int))
        or isinstance(value, bool)
        or not str(value).strip()
    ):
        raise PersonaError(
            f"persona '{persona_id}': '{key}' must be a non-empty string"
        )
    return " ".join(str(value).split())


_POSSESSIVE = re.compile(r"^(?:her|his|their)\s+", re.IGNORECASE)


# Words that mark a plain-string interest as the persona's field, not a hobby.
_WORK_WORDS = re.compile(
    r"\b(?:care|support|health|recovery|housing|peers?|crisis|certification|ethics|"
    r"hiring|career|families|family|youth|transitions|fundraising|advocacy|policy|"
    r"treatment|harm reduction|outreach|workforce|supervision|clinical)\b",
    re.IGNORECASE,
)


def _plain_interest(label: str, variants: Tuple[str, ...]) -> Interest:
    """An interest given as a plain string: derive the forms from the words."""
    bare = _POSSESSIVE.sub("", label).strip()
    mine = _POSSESSIVE.sub("my ", label).strip() if _POSSESSIVE.match(label) else bare
    theirs = bare.split(",")[0].strip() or bare
    kind = "work" if _WORK_WORDS.search(label) else "personal"
    return Interest(label=label, kind=kind, mine=mine, theirs=theirs, variants=variants)


def _text(value: Any, what: str, persona_id: str, required: bool = False) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PersonaError(f"persona '{persona_id}': {what} must not be empty")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise PersonaError(f"persona '{persona_id}': {what} must be a string")
    return " ".join(str(value).split())


def _interests(
    value: Any, key: str, persona_id: str
) -> Tuple[Tuple[str, ...], Dict[str, Interest]]:
    """Read ``interests``/``hidden_interests``: strings or interest mappings."""
    if value is None:
        return (), {}
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PersonaError(f"persona '{persona_id}': '{key}' must be a list of strings")
    labels: List[str] = []
    details: Dict[str, Interest] = {}
    for item in value:
        if isinstance(item, Mapping):
            label = _text(item.get("label"), f"'{key}' label", persona_id, True)
            kind = _text(item.get("kind"), f"'{label}' kind", persona_id) or "personal"
            if kind not in INTEREST_KINDS:
                raise PersonaError(
                    f"persona '{persona_id}': interest '{label}' kind must be "
                    "work or personal"
                )
            variants = _as_str_tuple(item.get("variants"), "variants", persona_id)
            plain = _plain_interest(label, variants)
            details[label] = Interest(
                label=label,
                kind=kind,
                mine=_text(item.get("mine"), "mine", persona_id) or plain.mine,
                theirs=_text(item.get("theirs"), "theirs", persona_id) or plain.theirs,
                story=_text(item.get("story"), "story", persona_id),
                variants=variants,
            )
            labels.append(label)
        else:
            labels.extend(_as_str_tuple([item], key, persona_id))
    return tuple(labels), details


def _topics(value: Any, persona_id: str) -> Dict[str, Topic]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PersonaError(f"persona '{persona_id}': 'topics' must be a mapping")
    topics: Dict[str, Topic] = {}
    for key, entry in value.items():
        where = f"topic '{key}'"
        if not isinstance(entry, Mapping):
            raise PersonaError(
                f"persona '{persona_id}': {where} must have 'asks' and 'answers'"
            )
        answers = _as_str_tuple(entry.get("answers"), f"{where} answers", persona_id)
        if not answers:
            raise PersonaError(f"persona '{persona_id}': {where} needs answers")
        asks = _as_str_tuple(entry.get("asks"), f"{where} asks", persona_id)
        topics[str(key)] = Topic(key=str(key), asks=asks, answers=answers)
    return topics


def _entries(
    value: Any, key: str, what: str, keys: str, persona_id: str
) -> List[Tuple[str, Mapping[str, Any]]]:
    """A list of mappings (``knowledge``, ``reactions``), each with its name."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PersonaError(f"persona '{persona_id}': '{key}' must be a list")
    found = []
    for number, entry in enumerate(value, start=1):
        where = f"{what} {number}"
        if not isinstance(entry, Mapping):
            raise PersonaError(f"persona '{persona_id}': {where} must have {keys}")
        found.append((where, entry))
    return found


def _knowledge(
    value: Any,
    persona_id: str,
    topics: Mapping[str, Topic],
    interests: Sequence[str] = (),
) -> Dict[str, Topic]:
    """Read ``knowledge``: specific questions, each with its own answer(s)."""
    found: Dict[str, Topic] = {}
    items = _entries(
        value, "knowledge", "knowledge item", "'asks' and 'answer'", persona_id
    )
    for number, (where, entry) in enumerate(items, start=1):
        asks = _as_str_tuple(entry.get("asks"), f"{where} asks", persona_id)
        answers = _as_str_tuple(entry.get("answers"), f"{where} answers", persona_id)
        if entry.get("answer") is not None:
            answers = (_text(entry.get("answer"), f"{where} answer", persona_id),)
        if not asks or not answers or not all(answers):
            raise PersonaError(
                f"persona '{persona_id}': {where} needs asks and an answer"
            )
        parent = _text(entry.get("topic"), f"{where} topic", persona_id)
        if (
            parent
            and parent not in STANDARD_TOPICS + ("family",)
            and parent not in topics
            and parent not in interests
        ):
            raise PersonaError(
                f"persona '{persona_id}': {where} topic '{parent}' is neither a "
                "standard topic, one of the persona's own nor one of its interests"
            )
        key = f"knowledge:{number}"
        found[key] = Topic(key=key, asks=asks, answers=answers, parent=parent)
    return found


def _reactions(value: Any, persona_id: str) -> Tuple[Reaction, ...]:
    """Read ``reactions``: what the persona says to what it is told."""
    found: List[Reaction] = []
    items = _entries(value, "reactions", "reaction", "'hears' and 'says'", persona_id)
    for where, entry in items:
        hears = _as_str_tuple(entry.get("hears"), f"{where} hears", persona_id)
        says = _as_str_tuple(entry.get("says"), f"{where} says", persona_id)
        if not hears or not says:
            raise PersonaError(f"persona '{persona_id}': {where} needs hears and says")
        found.append(Reaction(hears=hears, says=says))
    return tuple(found)


_ABOUT_GUESSES = (
    ("name", re.compile(r"\bname\b", re.I)),
    ("first_time", re.compile(r"\bfirst (?:time|conference)\b", re.I)),
    ("sessions", re.compile(r"\b(?:session|sessions|workshop|keynote|panel)\b", re.I)),
    ("origin", re.compile(r"\b(?:where|far|joining us from|travel)\b", re.I)),
    ("interests", re.compile(r"\b(?:fun|hobby|hobbies|weekend|free time)\b", re.I)),
    ("story", re.compile(r"\b(?:get into|got into|how did you)\b", re.I)),
    ("field_time", re.compile(r"\bhow long\b", re.I)),
    ("clients", re.compile(r"\b(?:who do you|work with|families|clients)\b", re.I)),
    ("role", re.compile(r"\b(?:work|do you do|role|job)\b", re.I)),
    ("plans", re.compile(r"\b(?:after|tonight|plans)\b", re.I)),
)


def guess_about(question: str) -> str:
    """What a persona's question is about, guessed from its words."""
    for about, pattern in _ABOUT_GUESSES:
        if pattern.search(question):
            return about
    return "other"


def _questions(value: Any, persona_id: str) -> Tuple[PersonaQuestion, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PersonaError(f"persona '{persona_id}': 'questions' must be a list")
    found: List[PersonaQuestion] = []
    for item in value:
        if isinstance(item, Mapping):
            text = _text(item.get("text"), "question text", persona_id, True)
            about = _text(item.get("about"), "question about", persona_id)
            about = about or guess_about(text)
            if about not in QUESTION_ABOUT:
                raise PersonaError(
                    f"persona '{persona_id}': question about '{about}' must be one "
                    "of " + ", ".join(QUESTION_ABOUT)
                )
            found.append(PersonaQuestion(text, about))
        else:
            for text in _as_str_tuple([item], "questions", persona_id):
                found.append(PersonaQuestion(text, guess_about(text)))
    return tuple(found)


def persona_from_dict(data: Any) -> Persona:
    """Validate one persona mapping and fill in defaults.

    Args:
        data: A mapping as read from YAML.

    Returns:
        The persona.

    Raises:
        PersonaError: When a required key is missing or a value has the wrong type.
    """
    if not isinstance(data, Mapping):
        raise PersonaError("a persona must be a mapping of keys to values")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    raw_id = str(data.get("id", "?"))
    if missing:
        raise PersonaError(
            f"persona '{raw_id}' is missing required key(s): {', '.join(missing)}"
        )
    persona_id = _required_text(data, "id", raw_id)
    if not _ID_PATTERN.match(persona_id):
        raise PersonaError(
            f"persona id '{persona_id}' must be lower-case letters, digits, '-' or '_'"
        )
    name = _required_text(data, "name", persona_id)
    role = _required_text(data, "role", persona_id)
    organization = _required_text(data, "organization", persona_id)
    interests, details = _interests(data.get("interests"), "interests", persona_id)
    if not interests:
        raise PersonaError(
            f"persona '{persona_id}': 'interests' needs at least one entry"
        )
    hidden, hidden_details = _interests(
        data.get("hidden_interests"), "hidden_interests", persona_id
    )
    details.update(hidden_details)

    raw_keywords = data.get("interest_keywords") or {}
    if not isinstance(raw_keywords, Mapping):
        raise PersonaError(
            f"persona '{persona_id}': 'interest_keywords' must be a mapping"
        )
    keywords: Dict[str, Tuple[str, ...]] = {}
    for interest, variants in raw_keywords.items():
        keywords[str(interest)] = _as_str_tuple(
            variants, "interest_keywords", persona_id
        )
    for label, detail in details.items():
        merged = keywords.get(label, ()) + detail.variants
        keywords[label] = tuple(dict.fromkeys(merged))

    personality = str(data.get("personality") or "warm").strip().lower()
    if personality not in PERSONALITIES:
        raise PersonaError(
            f"persona '{persona_id}': personality must be one of "
            + ", ".join(PERSONALITIES)
        )
    first = name.split()[0]
    scene = " ".join(str(data.get("scene") or "").split()) or (
        f"It is the afternoon break at the conference. {first} is standing near "
        "the coffee table, looking at the programme."
    )
    opener = " ".join(str(data.get("opener") or "").split()) or (
        f"Hi there! I'm {first}, {_article(role)} {role} with {organization}. "
        "How's the conference treating you?"
    )
    # Said after "I'm a <role> at <organization>": it must add something, not
    # say the role again.
    facts = _as_str_tuple(data.get("facts"), "facts", persona_id) or (
        "Most of my days are meetings, phone calls and a lot of problem-solving "
        "with people.",
    )
    asked = _questions(data.get("questions"), persona_id) or (
        PersonaQuestion("What kind of work do you do?", "role"),
        PersonaQuestion("What brings you to the conference?", "other"),
        PersonaQuestion("Have you been to any good sessions so far?", "sessions"),
    )
    topics = _topics(data.get("topics"), persona_id)
    deflections = _as_str_tuple(data.get("deflections"), "deflections", persona_id)
    knowledge = _knowledge(
        data.get("knowledge"), persona_id, topics, interests + hidden
    )
    reactions = _reactions(data.get("reactions"), persona_id)
    optional = ("scene", "opener", "facts", "questions", "topics", "deflections")
    defaulted = tuple(key for key in optional if not data.get(key))
    return Persona(
        id=persona_id,
        name=name,
        role=role,
        organization=organization,
        interests=interests,
        hidden_interests=hidden,
        interest_keywords=keywords,
        personality=personality,
        pronouns=str(data.get("pronouns") or "they/them"),
        scene=scene,
        opener=opener,
        facts=facts,
        questions=tuple(q.text for q in asked),
        interest_details=details,
        topics=topics,
        deflections=deflections,
        asked=asked,
        knowledge=knowledge,
        reactions=reactions,
        defaulted=defaulted,
    )


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def load_personas_file(path: Path) -> List[Persona]:
    """Read and validate a YAML file holding one persona or a list of them.

    Args:
        path: A YAML file: a mapping with a ``personas`` list, a bare list, or a
            single persona mapping.

    Returns:
        The personas in file order.

    Raises:
        PersonaError: When the file is missing, is not valid YAML, or an entry
            is invalid.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PersonaError(f"persona file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaError(f"cannot read persona file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise PersonaError(f"persona file {path} is not valid YAML{where}") from None
    if isinstance(data, Mapping) and "personas" in data:
        data = data["personas"]
    entries = data if isinstance(data, list) else [data]
    personas = [persona_from_dict(entry) for entry in entries]
    seen = set()
    for persona in personas:
        if persona.id in seen:
            raise PersonaError(f"persona id '{persona.id}' appears twice in {path}")
        seen.add(persona.id)
    if not personas:
        raise PersonaError(f"persona file {path} holds no personas")
    return personas


def personas_path() -> Path:
    """The persona file in use: ``INTROCOACH_PERSONAS`` or the packaged one."""
    return Path(os.environ.get("INTROCOACH_PERSONAS") or DEFAULT_PERSONAS_FILE)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> Tuple[Persona, ...]:
    return tuple(load_personas_file(Path(path)))


def all_personas() -> Tuple[Persona, ...]:
    """Every persona, re-read when the file changes (no restart needed)."""
    path = personas_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise PersonaError(f"persona file not found: {path}") from None
    return _cached(str(path), mtime)


def get_persona(persona_id: Optional[str]) -> Persona:
    """Look a persona up by id.

    Raises:
        PersonaError: When no persona has that id.
    """
    for persona in all_personas():
        if persona.id == persona_id:
            return persona
    known = ", ".join(p.id for p in all_personas())
    raise PersonaError(f"unknown persona '{persona_id}' (known: {known})")


def find_persona(persona_id: Optional[str]) -> Optional[Persona]:
    """Like :func:`get_persona` but returns ``None`` for an unknown id."""
    try:
        return get_persona(persona_id)
    except PersonaError:
        return None


def persona_named_in(text: str) -> Optional[Persona]:
    """The persona whose id, first name, full name or role the text mentions."""
    lowered = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
    best: Optional[Tuple[int, Persona]] = None
    for persona in all_personas():
        for label in (persona.name, persona.first_name, persona.id, persona.role):
            needle = " ".join(re.findall(r"[a-z0-9]+", label.lower()))
            if needle and f" {needle} " in lowered:
                if best is None or len(needle) > best[0]:
                    best = (len(needle), persona)
    return best[1] if best else None


def pick_persona(exclude: Optional[str] = None, seed: Optional[str] = None) -> Persona:
    """Pick a persona other than ``exclude``; repeatable for a given seed."""
    choices = [p for p in all_personas() if p.id != exclude] or list(all_personas())
    return random.Random(seed).choice(choices)


def thin_parts(persona: Persona) -> List[str]:
    """What a persona is missing, or has too little of, to hold a conversation.

    A persona with only the required keys still works from the shared
    defaults; this lists what would make it a better conversation partner.

    Returns:
        Human-readable notes, empty when nothing is thin.
    """
    notes: List[str] = []
    for key in ("scene", "opener"):
        if key in persona.defaulted:
            notes.append(f"no {key}: a generic one is used")
    missing = [key for key in STANDARD_TOPICS if key not in persona.topics]
    if missing:
        notes.append("topics answered from the shared defaults: " + ", ".join(missing))
    named = [(f"topic '{key}'", topic) for key, topic in persona.topics.items()]
    named += [(key.replace(":", " item "), i) for key, i in persona.knowledge.items()]
    for name, topic in named:
        if len(topic.answers) < 2 and name.startswith("topic"):
            notes.append(f"{name}: only one answer (two or more vary it)")
        if len(topic.asks) < 2:
            notes.append(f"{name}: fewer than two ways to ask")
        if any("?" in answer for answer in topic.answers):
            notes.append(f"{name}: an answer asks a question")
    if not persona.deflections:
        notes.append("no deflections: the shared defaults are used")
    if not persona.knowledge:
        notes.append("no knowledge items: specific questions get the broad topics")
    if not persona.reactions:
        notes.append("no reactions: what the trainee tells it gets shared lines")
    plain = [
        label
        for label in persona.all_interests
        if label not in persona.interest_details
    ]
    if plain:
        notes.append("interests without display forms or a story: " + ", ".join(plain))
    storyless = [
        label for label, detail in persona.interest_details.items() if not detail.story
    ]
    if storyless:
        notes.append("interests without a story: " + ", ".join(storyless))
    if len(persona.asked) < 3:
        notes.append("fewer than three questions to ask the trainee")
    return notes
