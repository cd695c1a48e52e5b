"""What the persona remembers of one conversation (kept in a Rasa slot).

The state is a JSON-safe dict in the ``persona_memory`` slot, so it travels
with the tracker (any tracker store, any replica) and is rebuilt tolerantly:
a missing or malformed key falls back to its empty value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

_KEY_CHARS = re.compile(r"[^a-z0-9 ]+")


def sentence_key(sentence: str) -> str:
    """A sentence reduced for "said before?" checks (case, punctuation)."""
    return " ".join(_KEY_CHARS.sub(" ", sentence.lower()).split())[:80]


@dataclass
class ConversationState:
    """The persona's picture of the conversation so far.

    Attributes:
        turn: Persona turns taken since the opener.
        trainee: What the trainee said about themselves: ``name``, ``role``,
            ``organization`` (clean spans only) and ``role_known`` ("yes" when
            they described their work without a title we can echo).
        likes: Persona interests the trainee said they share.
        dislikes: Interests the trainee said they do not have.
        their_interests: Interests of the trainee's own the persona heard.
        said: Keys of every sentence the persona said (no sentence twice).
        asked: Questions asked, by text, in order.
        known: What the persona knows the answer to (``about`` keys).
        open_question: The ``about`` of the question the persona just asked.
        answers_used: Per topic, indexes of answers already given.
        topics: Topics covered, in order.
        last_topic: The topic of the persona's last answer (for follow-ups).
        revealed: Persona interests it has mentioned.
        shared: Persona interests found in common (warmed up once each).
        warmth: How warm the persona has become (0 cool .. 5 very warm).
        wrapped_up: Whether a busy persona has said it must go soon.
        told: Distinctive words the trainee used ("certified"), so the
            persona does not ask about what they already brought up.
    """

    turn: int = 0
    trainee: Dict[str, str] = field(default_factory=dict)
    likes: List[str] = field(default_factory=list)
    dislikes: List[str] = field(default_factory=list)
    their_interests: List[str] = field(default_factory=list)
    said: List[str] = field(default_factory=list)
    asked: List[str] = field(default_factory=list)
    known: List[str] = field(default_factory=list)
    open_question: Optional[str] = None
    answers_used: Dict[str, List[int]] = field(default_factory=dict)
    topics: List[str] = field(default_factory=list)
    last_topic: Optional[str] = None
    revealed: List[str] = field(default_factory=list)
    shared: List[str] = field(default_factory=list)
    warmth: int = 0
    wrapped_up: bool = False
    last_interest: Optional[str] = None
    told: List[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> ConversationState:
        """Rebuild from a slot value, tolerating missing or malformed keys."""
        data = data if isinstance(data, Mapping) else {}

        def strs(key: str) -> List[str]:
            return [v for v in data.get(key) or [] if isinstance(v, str)]

        def integer(key: str) -> int:
            value = data.get(key)
            return (
                value if isinstance(value, int) and not isinstance(value, bool) else 0
            )

        trainee = data.get("trainee")
        used = data.get("answers_used")
        open_question = data.get("open_question")
        last_topic = data.get("last_topic")
        return cls(
            turn=integer("turn"),
            trainee={
                str(k): v
                for k, v in (trainee.items() if isinstance(trainee, Mapping) else ())
                if isinstance(v, str)
            },
            likes=strs("likes"),
            dislikes=strs("dislikes"),
            their_interests=strs("their_interests"),
            said=strs("said"),
            asked=strs("asked"),
            known=strs("known"),
            open_question=open_question if isinstance(open_question, str) else None,
            answers_used={
                str(k): [i for i in v if isinstance(i, int)]
                for k, v in (used.items() if isinstance(used, Mapping) else ())
                if isinstance(v, list)
            },
            topics=strs("topics"),
            last_topic=last_topic if isinstance(last_topic, str) else None,
            revealed=strs("revealed"),
            shared=strs("shared"),
            warmth=max(0, min(5, integer("warmth"))),
            wrapped_up=bool(data.get("wrapped_up")),
            last_interest=(
                data["last_interest"]
                if isinstance(data.get("last_interest"), str)
                else None
            ),
            told=strs("told"),
        )

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe form for the slot."""
        return {
            "turn": self.turn,
            "trainee": dict(self.trainee),
            "likes": list(self.likes),
            "dislikes": list(self.dislikes),
            "their_interests": list(self.their_interests),
            "said": list(self.said),
            "asked": list(self.asked),
            "known": list(self.known),
            "open_question": self.open_question,
            "answers_used": {k: list(v) for k, v in self.answers_used.items()},
            "topics": list(self.topics),
            "last_topic": self.last_topic,
            "revealed": list(self.revealed),
            "shared": list(self.shared),
            "warmth": self.warmth,
            "wrapped_up": self.wrapped_up,
            "last_interest": self.last_interest,
            "told": list(self.told),
        }

    def has_said(self, sentence: str) -> bool:
        """Whether the persona already said this sentence."""
        return sentence_key(sentence) in self.said

    def remember_said(self, sentence: str) -> None:
        """Note a sentence as said."""
        key = sentence_key(sentence)
        if key and key not in self.said:
            self.said.append(key)

    def learn(self, about: str) -> None:
        """Note that the persona now knows ``about`` (role, origin, ...)."""
        if about not in self.known:
            self.known.append(about)

    def warm_up(self, by: int = 1) -> None:
        """Grow warmer, up to 5."""
        self.warmth = max(0, min(5, self.warmth + by))
