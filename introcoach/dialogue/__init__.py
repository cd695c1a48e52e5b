"""What a persona says, in character, turn by turn.

This module knows nothing about Rasa: the actions pass it the persona, the
trainee's words and a small memory (a JSON-safe dict kept in a slot), and it
returns the persona's reply and the updated memory. Replies are built from the
persona's own data (facts, interests, questions) and the shared lines in
``small_talk.yml``, so a persona added to the YAML file works without code
changes or retraining.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from introcoach.personas import Persona

SMALL_TALK_FILE = Path(__file__).with_name("small_talk.yml")

TOPICS = (
    "work",
    "organization",
    "interests",
    "conference",
    "travel",
    "weather",
    "sports",
)

_TRAVEL_WORDS = re.compile(
    r"\b(drove|drive|flew|fly|flight|hotel|suitcase|commut\w*|trip|train|bus)\b", re.I
)
_PERSONAL_WORDS = re.compile(
    r"\b(hiked|hike|dog|garden\w*|recovery for|own recovery|son|daughter|bike|"
    r"listen|prefers)\b",
    re.I,
)
_SPORTS = (
    "basketball",
    "soccer",
    "baseball",
    "football",
    "cycling",
    "running",
    "trail running",
    "hiking",
    "fishing",
    "tennis",
    "golf",
    "hockey",
    "swimming",
    "volleyball",
    "softball",
)


@functools.lru_cache(maxsize=1)
def small_talk() -> Dict[str, Any]:
    """The shared lines, read once per process."""
    with SMALL_TALK_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def spoken_interest(interest: str) -> str:
    """An interest as the persona says it ("her rescue dog" -> "my rescue dog")."""
    return re.sub(r"^(her|his|their)\s+", "my ", interest.strip(), flags=re.I)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class Memory:
    """What the persona remembers of this conversation (kept in a Rasa slot)."""

    turn: int = 0
    used_facts: List[int] = field(default_factory=list)
    used_questions: List[int] = field(default_factory=list)
    revealed: List[str] = field(default_factory=list)
    shared: List[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> Memory:
        """Rebuild from a slot value, tolerating missing or malformed keys."""
        data = data if isinstance(data, Mapping) else {}

        def ints(key: str) -> List[int]:
            return [v for v in data.get(key) or [] if isinstance(v, int)]

        def strs(key: str) -> List[str]:
            return [v for v in data.get(key) or [] if isinstance(v, str)]

        turn = data.get("turn")
        return cls(
            turn=turn if isinstance(turn, int) else 0,
            used_facts=ints("used_facts"),
            used_questions=ints("used_questions"),
            revealed=strs("revealed"),
            shared=strs("shared"),
        )

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe form for the slot."""
        return {
            "turn": self.turn,
            "used_facts": list(self.used_facts),
            "used_questions": list(self.used_questions),
            "revealed": list(self.revealed),
            "shared": list(self.shared),
        }


@dataclass
class Reply:
    """The persona's reply and what it now remembers."""

    text: str
    memory: Memory


class PersonaVoice:
    """Builds one persona's replies.

    Args:
        persona: Who is speaking.
        memory: The conversation memory so far (a dict from the slot, or None).
        seed: Makes the choice of lines repeatable (the Rasa sender id).
        user_name: The trainee's name, when they gave it.
    """

    def __init__(
        self,
        persona: Persona,
        memory: Optional[Mapping[str, Any]] = None,
        seed: str = "",
        user_name: Optional[str] = None,
    ) -> None:
        self.persona = persona
        self.memory = Memory.from_dict(memory)
        self.memory.turn += 1
        self.user_name = (user_name or "").strip() or None
        self._rng = random.Random(f"{seed}:{persona.id}:{self.memory.turn}")
        self._lines = small_talk()

    # -- helpers ---------------------------------------------------------------

    def _style(self, key: str) -> Any:
        block = self._lines[key]
        return block.get(self.persona.personality, block.get("warm"))

    def _fill(self, template: str, **extra: str) -> str:
        values = {
            "first": self.persona.first_name,
            "role": self.persona.role,
            "organization": self.persona.organization,
            "user_comma": f", {self.user_name}" if self.user_name else "",
            "session": self._rng.choice(self._lines["sessions"]),
        }
        values.update(extra)
        return template.format(**values)

    def _reply(self, *parts: Optional[str]) -> Reply:
        text = " ".join(p.strip() for p in parts if p and p.strip())
        return Reply(text=text, memory=self.memory)

    def _next_fact(
        self, prefer: Optional[re.Pattern] = None, avoid: Optional[re.Pattern] = None
    ) -> Optional[str]:
        facts = self.persona.facts
        order = [i for i in range(len(facts)) if i not in self.memory.used_facts]
        if prefer is not None:
            order.sort(key=lambda i: 0 if prefer.search(facts[i]) else 1)
        if avoid is not None:
            order = [i for i in order if not avoid.search(facts[i])] or order
        if not order:
            return None
        index = order[0]
        self.memory.used_facts.append(index)
        return facts[index]

    def ask_back(self) -> str:
        """A question that gives the trainee a way to continue."""
        questions = list(self.persona.questions) or self._lines["generic_questions"]
        unused = [
            i for i in range(len(questions)) if i not in self.memory.used_questions
        ]
        if not unused:
            return self._rng.choice(self._lines["generic_questions"])
        index = (
            unused[0]
            if self.persona.personality == "reserved"
            else self._rng.choice(unused)
        )
        self.memory.used_questions.append(index)
        return questions[index]

    def notice_shared_interest(self, mentions: Sequence[Any]) -> Optional[str]:
        """React to a persona interest the trainee just named (not in negation).

        Args:
            mentions: ``InterestMention``-like objects with ``interest`` and
                ``negated`` attributes, from the scoring library's matcher.

        Returns:
            A warm-up line for the first interest not yet shared, or None.
        """
        for mention in mentions:
            if getattr(mention, "negated", False):
                continue
            interest = mention.interest
            if interest in self.memory.shared:
                continue
            self.memory.shared.append(interest)
            if interest not in self.memory.revealed:
                self.memory.revealed.append(interest)
            key = (
                "shared_interest_reserved"
                if self.persona.personality == "reserved"
                else "shared_interest"
            )
            said = spoken_interest(interest)
            line = self._fill(
                self._rng.choice(self._lines[key]),
                interest=said,
                interest_cap=_cap(said),
            )
            detail = self._interest_detail(interest)
            return f"{line} {detail}".strip()
        return None

    def _interest_detail(self, interest: str) -> str:
        keywords = [k.lower() for k in self.persona.keywords_for(interest)]
        for index, fact in enumerate(self.persona.facts):
            if index in self.memory.used_facts:
                continue
            if any(re.search(rf"\b{re.escape(k)}", fact.lower()) for k in keywords):
                self.memory.used_facts.append(index)
                return fact
        return ""

    # -- turns -----------------------------------------------------------------

    def opening(self) -> List[str]:
        """Scene narration, then the persona's first line."""
        return [f"({self.persona.scene})", self.persona.opener]

    def greet(self, mentions: Sequence[Any] = ()) -> Reply:
        """Answer a greeting; right after the opener, let its question stand."""
        question = self.ask_back() if self.memory.turn > 1 else None
        return self._reply(
            self._fill(self._style("greeting")),
            self.notice_shared_interest(mentions),
            question,
        )

    def wellbeing(self) -> Reply:
        """Answer "how are you?"."""
        line = self._style("wellbeing")
        return self._reply(line, None if line.endswith("?") else self.ask_back())

    def react_to_introduction(
        self,
        name: Optional[str],
        role: Optional[str],
        organization: Optional[str],
        interest: Optional[str],
        mentions: Sequence[Any] = (),
    ) -> Reply:
        """React to the trainee introducing themselves, using what they gave."""
        if name:
            self.user_name = name
        greeting = self._fill(self._style("greeting")) if name else "Nice to meet you."
        shared = self.notice_shared_interest(mentions)
        follow: Optional[str]
        if role and organization:
            follow = f"A {role} at {organization}, how long have you been doing that?"
            follow = _article_fix(follow)
        elif role:
            follow = _article_fix(
                f"A {role}! What does a typical day look like for you?"
            )
        elif organization:
            follow = f"{organization}, I've heard of them. What do you do there?"
        elif interest and not shared:
            follow = self._fill(
                self._rng.choice(self._lines["new_interest_curious"]),
                interest=interest,
                interest_cap=_cap(interest),
            )
        else:
            follow = "So what kind of work do you do?"
        own = None
        if not shared and self.persona.personality in ("warm", "curious"):
            own = f"I'm {self.persona.role_with_article()}."
        return self._reply(greeting, shared, own, follow)

    def answer(self, topic: str, mentions: Sequence[Any] = ()) -> Reply:
        """Answer a question about one of :data:`TOPICS`."""
        shared = self.notice_shared_interest(mentions)
        if topic == "work":
            role, place = self.persona.role_with_article(), self.persona.organization
            body = f"I'm {role} at {place}."
            fact = self._next_fact(avoid=_TRAVEL_WORDS)
            return self._reply(shared, body, fact, self.ask_back())
        if topic == "organization":
            body = (
                f"{self.persona.organization}? "
                "I think of us as a small team doing a big job."
            )
            fact = self._next_fact(avoid=_PERSONAL_WORDS)
            return self._reply(shared, body, fact, self.ask_back())
        if topic == "interests":
            return self._reply(shared, self._reveal_interest(), self._ask_about_them())
        if topic == "sports":
            sport = next((i for i in self.persona.all_interests if _is_sport(i)), None)
            if sport:
                if sport not in self.memory.revealed:
                    self.memory.revealed.append(sport)
                line = self._fill(
                    self._rng.choice(self._lines["sports_fan"]),
                    interest=spoken_interest(sport),
                )
            else:
                other = self.persona.interests[-1]
                line = self._fill(
                    self._rng.choice(self._lines["sports_not_fan"]),
                    interest=spoken_interest(other),
                )
            return self._reply(shared, line, "Do you follow anything?")
        if topic == "travel":
            fact = self._next_fact(prefer=_TRAVEL_WORDS)
            if fact and _TRAVEL_WORDS.search(fact):
                line = fact
            else:
                line = self._rng.choice(self._lines["travel"])
            return self._reply(shared, line, "How about you, did you come far?")
        if topic == "weather":
            return self._reply(
                shared, self._rng.choice(self._lines["weather"]), self.ask_back()
            )
        # conference, and anything unexpected
        line = self._fill(self._rng.choice(self._lines["conference"]))
        return self._reply(shared, line, "Which sessions are you going to?")

    def _reveal_interest(self) -> str:
        """Name an open interest first, then one kept for people who ask."""
        for interest in self.persona.interests + self.persona.hidden_interests:
            if interest not in self.memory.revealed:
                self.memory.revealed.append(interest)
                said = spoken_interest(interest)
                if interest in self.persona.hidden_interests:
                    return (
                        "Since you ask, not many people know this, "
                        f"but I really love {said}."
                    )
                return f"Outside of work? {_cap(said)}, mostly."
        said = ", ".join(spoken_interest(i) for i in self.persona.all_interests[:3])
        return f"You've pretty much got me figured out: {said}."

    def _ask_about_them(self) -> str:
        return "What about you? What do you do to recharge?"

    def react_to_interest(
        self, interest: Optional[str], mentions: Sequence[Any] = ()
    ) -> Reply:
        """The trainee mentioned one of their own interests."""
        shared = self.notice_shared_interest(mentions)
        if shared:
            return self._reply(
                shared,
                f"How did you get into {spoken_interest(self.memory.shared[-1])}?",
            )
        if interest:
            line = self._fill(
                self._rng.choice(self._lines["new_interest_curious"]),
                interest=interest,
                interest_cap=_cap(interest),
            )
            return self._reply(line)
        return self._reply(
            self._rng.choice(self._style("acknowledge")), self.ask_back()
        )

    def react_to_comment(self, mentions: Sequence[Any] = ()) -> Reply:
        """Acknowledge a remark and keep the conversation going."""
        shared = self.notice_shared_interest(mentions)
        if shared:
            return self._reply(shared, self.ask_back())
        ack = self._rng.choice(self._style("acknowledge"))
        fact = self._next_fact() if self._rng.random() < 0.5 else None
        return self._reply(ack, fact, self.ask_back())

    def thanks(self) -> Reply:
        """Answer a thank-you."""
        return self._reply(self._style("thanks"), self.ask_back())

    def exchange_contact(self) -> Reply:
        """Hand over contact details."""
        return self._reply(self._style("contact"))

    def goodbye(self) -> Reply:
        """Say goodbye in character."""
        return self._reply(self._fill(self._style("goodbye")))

    def steer_back(self) -> Reply:
        """An in-character answer to something not understood, steering back."""
        return self._reply(self._rng.choice(self._style("steer_back")), self.ask_back())

    def invite_pitch(self) -> Reply:
        """Invite an elevator pitch."""
        by_style = {
            "busy": "I've got about a minute. So, what's your story? Give me the short "
            "version.",
            "reserved": "Please, go ahead. Tell me about yourself and your work.",
        }
        line = by_style.get(
            self.persona.personality,
            "I'd love to hear it. Tell me who you are and what you do, like we just "
            "met.",
        )
        return self._reply(line)


def _article_fix(text: str) -> str:
    return re.sub(r"\bA ([aeiouAEIOU])", r"An \1", text)


def _is_sport(interest: str) -> bool:
    lowered = interest.lower()
    return any(sport in lowered for sport in _SPORTS)
