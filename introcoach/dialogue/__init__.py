"""What a persona says, in character, turn by turn.

This module knows nothing about Rasa. The actions pass it the persona, what
the trainee said (:func:`introcoach.dialogue.understand.hear`) and the
conversation state kept in a slot; it plans the reply, then words it:

1. react to what the trainee actually said (a feeling first, then who they
   are, common ground, thanks, or the answer to the persona's last question);
2. answer their question, if there was one: from the persona's topics, or an
   honest in-character deflection;
3. ask at most one question back, one they have not answered already.

Words come from the persona's own data and the shared lines in
``small_talk.yml``, so a persona added to the YAML file works without code
changes or retraining. No sentence is said twice in one conversation.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from introcoach.dialogue.state import ConversationState, sentence_key
from introcoach.dialogue.understand import (
    INTENT_TOPICS,
    Heard,
    Question,
    detail_overlap,
    has_pattern,
    hear,
    is_venue_question,
    plausible_name,
    rare_overlap,
    stem,
    word_weight,
    words,
)
from introcoach.personas import Persona, guess_about

__all__ = [
    "ConversationState",
    "Heard",
    "PersonaVoice",
    "Reply",
    "hear",
    "sentence_key",
]

SMALL_TALK_FILE = Path(__file__).with_name("small_talk.yml")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|ive|me|my|we|our)\b", re.I)
_SHARED_TOO = re.compile(
    r"\b(?:too|also|as well|same|love|passionate|passion|into|care about)\b", re.I
)
_ADDRESSED = re.compile(r"\b(?:you|your|u|ur|y'all|you guys)\b", re.I)
# Topics that are small talk, not the persona's work: no thread to follow.
_SMALL_TALK_TOPICS = (
    "name",
    "wellbeing",
    "weather",
    "sports",
    "interests",
    "trip",
    "session",
    "plans",
)
# Words of a question that say nothing about what the trainee told already.
_PLAIN_QUESTION_WORDS = frozenset(
    "conference session sessions favorite favourite working people anything "
    "really usually actually something yourself today around mostly things "
    "doing coming joining enjoying recharge outside friends".split()
)


def _stems(text: str) -> List[str]:
    """Distinctive words of a text, cut to six letters ("certified" -> certif)."""
    return [
        stem(w) for w in words(text) if len(w) >= 6 and w not in _PLAIN_QUESTION_WORDS
    ]


_HOW_LONG = re.compile(
    r"\b(?:for|been|about|like|almost|over|nearly)\s+(?:\w+\s+)?"
    r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|a couple|"
    r"couple|few|several)\s*(?:of\s+)?(?:years?|yrs?|months?|weeks?)\b|"
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten)\s*"
    r"(?:years?|yrs?|months?)\s+(?:in|now|sober|clean)\b",
    re.I,
)
_JUST_STARTED = re.compile(
    r"\b(?:just|only|recently) (?:started|began|begun|got (?:hired|certified))\b|"
    r"\bnew (?:to|at) (?:this|the job|it|the field|peer work)\b|"
    r"\b(?:my )?first (?:week|month|year|job) (?:on|at|in|as)\b",
    re.I,
)
# Feelings about the conference itself, after which small talk may go on.
_LIGHT_FEELINGS = ("nervous", "overwhelmed", "tired", "excited")
_SESSION_WORDS = re.compile(
    r"\b(?:session|sessions|talk|panel|keynote|workshop|track|went to|the one on|"
    r"presentation|speaker)\b",
    re.I,
)
_PLACE_WORDS = re.compile(
    r"\b(?:from|drove|flew|live|based|up north|down south|city|county|state|town|"
    r"coast|valley|hours?|miles|local|around here|nearby)\b|"
    r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}",
)
_LUKEWARM = re.compile(r"\b(?:ok|okay|fine|alright|meh|not bad|so so|so-so)\b", re.I)
# "do you like basketball?" deserves a yes before the story.
_YES_NO_INTEREST = re.compile(
    r"^\W*(?:so |and |hey |wait |ok\W+)?(?:(?:do|did) (?:you|u) (?!know\b|have\b)\w+|"
    r"(?:are|r) (?:you|u) (?:into|a fan|a big)|(?:you|u) (?:like|play|into))\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_SPORTS = re.compile(
    r"\b(basketball|soccer|baseball|football|cycling|running|hiking|fishing|tennis|"
    r"golf|hockey|swimming|volleyball|softball)\b",
    re.I,
)


@functools.lru_cache(maxsize=1)
def small_talk() -> Dict[str, Any]:
    """The shared lines, read once per process."""
    with SMALL_TALK_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


_NEEDS_THE = re.compile(
    r"^(?:State|County|City|Department|Office|National|Regional|University)\b"
)


def _with_article(organization: str) -> str:
    """The organisation as it reads after "at" ("the State Peer ... Board")."""
    return f"the {organization}" if _NEEDS_THE.match(organization) else organization


# A shared word this rare makes a question about one answer in particular.
_RELEVANT_OVERLAP = 2.5
_KEEP_CAPITAL = re.compile(r"^(?:I\b|I'|[A-Z]{2,}|[A-Z][a-z]+[A-Z])")


def _lower_first(sentence: str, persona: Persona) -> str:
    """A sentence as it reads after "Like I said," (names keep their capital)."""
    first = sentence.split(" ", 1)[0].strip(",.:;")
    if _KEEP_CAPITAL.match(sentence) or first in _proper_words(persona):
        return sentence
    return sentence[:1].lower() + sentence[1:]


_PROPER_CACHE: Dict[Tuple[str, int], frozenset] = {}


def _proper_words(persona: Persona) -> frozenset:
    """Words the persona's own lines capitalise mid-sentence (names, places)."""
    key = (persona.id, id(persona))
    found = _PROPER_CACHE.get(key)
    if found is None:
        text = " ".join(a for t in persona.topics.values() for a in t.answers)
        text += " " + " ".join(a for k in persona.knowledge.values() for a in k.answers)
        capital = set(re.findall(r"(?<![.!?])\s([A-Z][a-z]+)", text))
        lower = set(re.findall(r"\b([a-z]+)\b", text))
        found = frozenset(w for w in capital if w.lower() not in lower)
        if len(_PROPER_CACHE) > 64:
            _PROPER_CACHE.clear()
        _PROPER_CACHE[key] = found
    return found


def role_at(persona: Persona) -> str:
    """The role and where: "a discharge planner at St. Brigid ...".

    Not "a certification board member at the State Peer Certification
    Board" when the organisation's name already holds the rest of the role:
    "a member of the State Peer Certification Board".
    """
    org_words = set(words(persona.organization))
    organization = _with_article(persona.organization)
    qualifiers = words(persona.role)[:-1]
    if qualifiers and all(w in org_words for w in qualifiers):
        head = persona.role.split()[-1]
        return f"{_article(head)} of {organization}"
    return f"{persona.role_with_article()} at {organization}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


_PLAIN_WORK_WORDS = frozenset(
    "work job role day days typical week look looks actually exactly mean "
    "whats what's kind type there here".split()
)


def _plain_work_question(question: str) -> bool:
    """Whether a question asks only what the persona does ("so what do u do")."""
    content = [
        w
        for w in words(question)
        if word_weight(w) == 1.0 and w not in _PLAIN_WORK_WORDS
    ]
    return len(content) <= 1


def split_sentences(text: str) -> List[str]:
    """A reply's sentences ("Hi! I'm Dana." -> two)."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _merge(plan: Dict[str, Any], more: Mapping[str, Any]) -> None:
    """Add an answer's plan to the turn's, keeping every topic addressed."""
    addressed = list(plan.get("addressed", [])) + list(more.get("addressed", []))
    plan.update(more)
    if addressed:
        plan["addressed"] = addressed


@dataclass
class Reply:
    """The persona's reply, what it now remembers, and how it was planned."""

    text: str
    memory: ConversationState
    plan: Dict[str, Any] = field(default_factory=dict)


class PersonaVoice:
    """Plans and words one persona's replies.

    Args:
        persona: Who is speaking.
        memory: The conversation state so far (a dict from the slot, or None).
        seed: Makes the choice of lines repeatable (the Rasa sender id).
        user_name: The trainee's name, when they gave it earlier.
    """

    def __init__(
        self,
        persona: Persona,
        memory: Optional[Mapping[str, Any]] = None,
        seed: str = "",
        user_name: Optional[str] = None,
    ) -> None:
        self.persona = persona
        self.state = ConversationState.from_dict(memory)
        name = plausible_name(user_name or "", persona)
        if name and not self.state.trainee.get("name"):
            self.state.trainee["name"] = name
        self._rng = random.Random(f"{seed}:{persona.id}:{self.state.turn}")
        self._lines = small_talk()
        self._parts: List[str] = []
        self._last_interest: Optional[str] = None

    # -- wording helpers ---------------------------------------------------------

    def _by_style(self, key: str) -> Any:
        block = self._lines[key]
        return block.get(self.persona.personality, block.get("warm"))

    def _values(self, **extra: str) -> Dict[str, str]:
        name = self.state.trainee.get("name", "")
        values = {
            "first": self.persona.first_name,
            "full_name": self.persona.name,
            "role_a": self.persona.role_with_article(),
            "role_at": role_at(self.persona),
            "organization": _with_article(self.persona.organization),
            "name": name,
            "name_comma": f", {name}" if name else "",
            "session": self._rng.choice(self._lines["sessions"]),
        }
        values.update(extra)
        return values

    def _pick(self, pool: Sequence[str], **extra: str) -> Optional[str]:
        """A line from the pool not said yet in this conversation, filled in."""
        values = self._values(**extra)
        lines = [line.format(**values) for line in pool]
        fresh = [line for line in lines if not self._said_any(line)]
        if not fresh:
            return None
        return self._rng.choice(fresh)

    def _said_any(self, text: str) -> bool:
        said = set(self.state.said) | {
            sentence_key(s) for part in self._parts for s in split_sentences(part)
        }
        return any(sentence_key(s) in said for s in split_sentences(text))

    def _add(self, text: Optional[str]) -> bool:
        if text and text.strip() and not self._said_any(text):
            self._parts.append(text.strip())
            return True
        return False

    def _finish(self, plan: Dict[str, Any]) -> Reply:
        text = " ".join(self._parts).strip()
        if not text:
            text = self._pick(self._by_style("acknowledge")) or "Mm, yes."
        for sentence in split_sentences(text):
            self.state.remember_said(sentence)
        self._parts = []
        return Reply(text=text, memory=self.state, plan=plan)

    # -- the opener --------------------------------------------------------------

    def opening(self) -> List[str]:
        """Scene narration, then the persona's first line."""
        return [f"({self.persona.scene})", self.persona.opener]

    def opening_state(self) -> Dict[str, Any]:
        """The state after the opener: its sentences said, its question open."""
        state = ConversationState()
        for sentence in split_sentences(self.persona.opener):
            state.remember_said(sentence)
        questions = [s for s in split_sentences(self.persona.opener) if "?" in s]
        if questions:
            state.open_question = guess_about(questions[-1])
            state.asked.append(questions[-1])
        return state.to_dict()

    # -- a turn ------------------------------------------------------------------

    def respond(self, heard: Heard) -> Reply:
        """Plan and word the reply to one trainee message.

        Args:
            heard: What the trainee said, from :func:`hear`.

        Returns:
            The reply, the updated state and the plan (for the transcript).
        """
        state = self.state
        state.turn += 1
        if heard.nice_to_meet and state.turn >= 4 and not heard.introduced:
            heard.goodbye = True
        answered_open = state.open_question
        self._learn(heard)
        plan: Dict[str, Any] = {}
        preferred: Optional[Dict[str, str]] = None

        reaction, preferred = self._react(heard, answered_open)
        if reaction:
            plan["reacted"] = reaction
        if heard.question is not None and heard.question.topic == "name":
            _merge(plan, self._answer(heard.question, heard))
            plan.setdefault("addressed", []).append("name")
        if heard.contact or heard.goodbye:
            if heard.contact:
                self._add(self._by_style("contact"))
                plan.setdefault("answered", "contact")
                plan.setdefault("addressed", []).append("contact")
            if heard.goodbye:
                if heard.thanks and "reacted" not in plan:
                    self._add(self._pick(self._by_style("thanks")))
                self._add(self._by_style("goodbye").format(**self._values()))
                plan.setdefault("answered", "goodbye")
                plan.setdefault("addressed", []).append("goodbye")
                return self._finish(plan)
        question = heard.question
        if (
            question is None
            and heard.intent in INTENT_TOPICS
            and not heard.feeling
            and (
                # "i was inpatient at a hospital like that" is no question
                # about its hospital, whatever Rasa's intent says.
                not heard.intent.startswith("ask_persona")
                or "?" in heard.text
                or _ADDRESSED.search(heard.text)
            )
        ):
            # "tell me about your day" is a question though no word says so.
            question = Question(heard.text, INTENT_TOPICS[heard.intent], 1.0)
        if heard.contact or "answered" in plan:
            question = None
        if (
            question is not None
            and question.topic is None
            and plan.get("reacted") == "own_reaction"
        ):
            # "Where do people go after detox? We never have anywhere to send
            # them": the persona's own reaction is the answer.
            question = None
            plan["answered"] = "own_reaction"
        if question is not None:
            # Common ground just found ("i backpack too! where do you go?") is
            # what the question is about.
            about = self.state.last_interest or self._last_interest
            _merge(plan, self._answer(question, heard, about))
        elif heard.asked_back and answered_open is None:
            _merge(plan, self._answer(Question(heard.text, "wellbeing", 1.0), heard))
        if not self._parts:
            self._add(self._pick(self._by_style("acknowledge")))
        asked = self._ask_back(heard, plan, preferred)
        if asked:
            plan["asked"] = asked
        return self._finish(plan)

    def _learn(self, heard: Heard) -> None:
        state = self.state
        for cut in _stems(heard.text):
            if cut not in state.told:
                state.told.append(cut)
        if _HOW_LONG.search(heard.text) or _JUST_STARTED.search(heard.text):
            state.learn("field_time")  # "been doing it like 8 months"
        del state.told[:-200]
        if heard.name:
            state.trainee["name"] = heard.name
            state.learn("name")
        if heard.role:
            state.trainee["role"] = heard.role
        if heard.role or heard.role_known:
            state.learn("role")
        if heard.organization:
            state.trainee["organization"] = heard.organization
            state.learn("organization")
        for label in heard.dislikes:
            if label not in state.dislikes:
                state.dislikes.append(label)
            if label in state.likes:
                state.likes.remove(label)
        for label in heard.likes:
            if label not in state.likes and label not in state.dislikes:
                state.likes.append(label)
        if heard.their_interest and heard.their_interest not in state.their_interests:
            state.their_interests.append(heard.their_interest)
            state.learn("interests")
        if heard.likes:
            state.learn("interests")
        # Anything but a bare question answers the question the persona asked.
        bare_ack = heard.acknowledgement and not heard.introduced
        if state.open_question and not bare_ack:
            if heard.question is None or heard.introduced:
                state.learn(state.open_question)
        if heard.feeling:
            state.learn("wellbeing")
        if heard.feeling in ("nervous", "overwhelmed", "excited"):
            state.learn("first_time")
        if heard.feeling == "back_to_work":
            for about in ("clients", "organization", "field_time"):
                state.learn(about)  # out of work: no "who do you work with?"
        if heard.feeling in ("loved_one", "lived_experience"):
            state.learn("story")  # why they do this work, they just said
        if heard.feeling == "exam_nerves":
            state.learn("field_time")  # not certified yet: no "how long certified?"

    # -- 1. react -----------------------------------------------------------------

    def _react(
        self, heard: Heard, answered_open: Optional[str]
    ) -> Tuple[Optional[str], Optional[Dict[str, str]]]:
        state = self.state
        preferred: Optional[Dict[str, str]] = None
        last_interest = state.last_interest
        self._last_interest = last_interest
        state.last_interest = None
        if heard.feeling:
            if self._add(self._pick(self._lines["feeling"][heard.feeling])):
                if heard.name and state.turn <= 2:
                    # "im tash btw": the name is heard too, first.
                    greeting = self._pick(self._by_style("greeting_named"))
                    if greeting:
                        self._parts.insert(0, greeting)
                state.warm_up()
                return f"feeling:{heard.feeling}", None
        own = self._own_reaction(heard)
        news = None
        if heard.same_org:
            news = self._pick(self._lines["same_org"])
        elif heard.good_news and not heard.feeling:
            news = self._pick(self._lines["good_news"])
        if news and self._add(news):
            state.warm_up()
            greeting = self._pick(self._by_style("greeting_named"))
            if heard.name and greeting:
                self._parts.insert(0, greeting)
            if own:
                self._add(own)
            return "own_reaction" if own else "news", None
        if heard.introduced:
            said = False
            if heard.name:
                said = self._add(self._pick(self._by_style("greeting_named")))
            elif heard.greeting and state.turn == 1:
                said = self._add(self._pick(self._by_style("greeting")))
            if own:
                # What they told it touches its own world: say that, not a
                # line that would fit anyone's job.
                said = self._add(own) or said
                if said:
                    state.warm_up()
                    return "own_reaction", None
            if heard.role:
                said = self._add(self._role_line(heard.role)) or said
                preferred = self._fresh_question(self._lines["after_role"])
            elif heard.role_known:
                said = self._add(self._pick(self._lines["role_described"])) or said
                preferred = self._fresh_question(self._lines["after_role"])
            elif heard.organization:
                org = heard.organization
                said = (
                    self._add(
                        self._pick(
                            self._lines["organization_only"],
                            their_org=org,
                            their_org_cap=_cap(org),
                        )
                    )
                    or said
                )
            if said:
                return "intro", preferred
        if heard.me_too and last_interest and not heard.likes:
            heard.likes = [last_interest]
        # "i fly fish too, mostly on the river": common ground first, so the
        # next question ("whats your go-to spot?") is heard as about it.
        if self._shared_interest(heard, own):
            return "shared_interest", None
        if own and self._add(own):
            state.warm_up()
            return "own_reaction", None
        if heard.empathy and heard.question is None and not heard.thanks:
            # "that must have been so scary" is about what it went through,
            # not about its job.
            past = state.last_topic in ("story", "family") or has_pattern(
                "empathy_past", heard.text
            )
            pool = self._lines["empathy_past" if past else "empathy"]
            if self._add(self._pick(pool)):
                return "empathy_ack", None
        if heard.dislikes or heard.their_dislike:
            if self._add(self._pick(self._lines["dislike"])):
                return "dislike", None
        if heard.their_interest:
            theirs = heard.their_interest
            if self._add(
                self._pick(
                    self._lines["their_interest"],
                    theirs=theirs,
                    theirs_cap=_cap(theirs),
                )
            ):
                return "their_interest", self._fresh_question(
                    self._lines["after_their_interest"]
                )
        if heard.relief and heard.question is None:
            if self._add(self._pick(self._lines["relief"])):
                return "react", None
        if heard.congrats and self._add(self._pick(self._lines["congrats"])):
            return "thanks", None
        if (
            heard.thanks
            and not heard.contact
            and self._add(self._pick(self._by_style("thanks")))
        ):
            return "thanks", None
        if (
            answered_open
            and heard.question is None
            and not (heard.goodbye or heard.contact)
        ):
            line = self._answered_line(answered_open, heard)
            if line and self._add(line):
                return "react", None
        if heard.greeting and state.turn == 1:
            if self._add(self._pick(self._by_style("greeting"))):
                return "greeting", None
        if (
            heard.acknowledgement
            and heard.question is None
            and not (heard.goodbye or heard.contact)
        ):
            kind = "impressed" if has_pattern("impressed", heard.text) else "plain"
            if self._add(self._pick(self._lines["small_ack"][kind])):
                return "react", None
        return None, None

    def _own_reaction(self, heard: Heard) -> Optional[str]:
        """The persona's own line for what they told it, not said yet."""
        if heard.reaction is None or heard.reaction >= len(self.persona.reactions):
            return None
        return self._pick(self.persona.reactions[heard.reaction].says)

    def _role_line(self, role: str) -> Optional[str]:
        mine = set(words(self.persona.role))
        if role.split()[-1] in mine:
            # "I'm a peer specialist" to a peer specialist: not "I love meeting
            # people who do that work".
            line = self._pick(self._lines["same_role"], their_role=role)
            if line:
                return line
        role_a = _article(role)
        return self._pick(
            self._lines["role_clean"],
            their_role_a=role_a,
            their_role_a_cap=_cap(role_a),
        )

    def _answered_line(self, about: str, heard: Heard) -> Optional[str]:
        if about == "first_time":
            key = "answered_first_time_no" if heard.no else "answered_first_time_yes"
            if heard.no or heard.yes:
                return self._pick(self._lines[key])
        if about == "sessions" and not heard.me_too:
            # "yes!", "it was ok" or "no, I went to the one on boundaries"
            # all answer "were you in the workshop?", each differently.
            short = len(heard.text.split()) <= 6
            if heard.yes:
                return self._pick(self._lines["answered_sessions_yes"])
            if _LUKEWARM.search(heard.text) and short and not heard.no:
                return self._pick(self._lines["answered_sessions_lukewarm"])
            if heard.no or _SESSION_WORDS.search(heard.text):
                return self._pick(self._lines["answered_sessions"])
            return None
        if about == "origin" and not heard.me_too:
            if _PLACE_WORDS.search(heard.text):
                return self._pick(self._lines["answered_origin"])
            return None
        if heard.acknowledgement:
            return None  # "thats really cool" answers nothing
        if len(heard.text.split()) <= 3:
            return None
        return self._pick(self._lines["answered_other"] + self._by_style("acknowledge"))

    def _shared_interest(self, heard: Heard, own: Optional[str] = None) -> bool:
        """Common ground the trainee claimed: say so, in its own words if any."""
        state = self.state
        for label in heard.likes:
            if label in state.shared or label in heard.asked_about:
                continue
            interest = self.persona.interest(label)
            if not _FIRST_PERSON.search(heard.text) and not heard.me_too:
                continue  # common ground is something they say of themselves
            if interest.kind == "work" and (
                heard.question is not None
                or not _FIRST_PERSON.search(heard.text)
                or not _SHARED_TOO.search(heard.text)
            ):
                # Their field named in a question, or in passing, is not common
                # ground they claimed: answering it is the reply.
                continue
            pool = (
                self._lines["shared_work"]
                if interest.kind == "work"
                else self._by_style("shared_interest")
            )
            line = own or self._pick(
                pool, theirs=interest.theirs, theirs_cap=_cap(interest.theirs)
            )
            if not self._add(line):
                continue
            state.shared.append(label)
            if label not in state.revealed:
                state.revealed.append(label)
            state.last_interest = label
            if interest.story and heard.question is None and not own:
                self._add(interest.story)
            state.warm_up()
            return True
        return False

    # -- 2. answer ----------------------------------------------------------------

    def _answer(
        self, question: Question, heard: Heard, last_interest: Optional[str] = None
    ) -> Dict[str, Any]:
        state = self.state
        topic = question.topic
        venue = is_venue_question(question.text)
        if venue and topic in ("session", "trip", "plans", "wellbeing", "weather"):
            # "which room is the keynote in?" is about the venue, not the keynote.
            topic = None
        specific = self.persona.knowledge.get(topic or "")
        weak_elsewhere = (
            specific is not None
            and specific.parent != last_interest
            and question.score < 0.8
        )
        if (
            (topic is None or weak_elsewhere)
            and last_interest
            and not venue
            and self.persona.interest(last_interest).kind == "personal"
        ):
            # "Who's your team?" right after the Mariners story: what the
            # persona knows about that interest, best match first.
            key = self._about_interest(last_interest, question.text)
            if key:
                state.last_interest = last_interest
                return {"answered": "follow_up", "follow_up": True, "knowledge": key}
            if topic is None and self._add(
                self._pick(self._lines["interest_follow_up"])
            ):
                return {"answered": "follow_up", "follow_up": True}
        work_thread = state.last_topic not in (None, *_SMALL_TALK_TOPICS)
        if (
            topic is None
            and state.last_topic
            and not venue
            and (
                question.follow_up or (work_thread and _ADDRESSED.search(question.text))
            )
        ):
            # A question we have no topic for, right after an answer, is most
            # likely about a detail of that answer ("where do they go after?").
            if self._add(self._next_answer(state.last_topic, question.text)):
                return {"answered": state.last_topic, "follow_up": True}
            self._add(self._pick(self._lines["follow_up_unknown"]))
            state.last_topic = None
            return {"answered": "follow_up", "follow_up": True}
        if topic is None:
            own = [d for d in self.persona.deflections if not self._said_any(d)]
            if venue:
                line = self._pick(self._lines["venue_deflections"])
            else:
                line = self._rng.choice(own) if own else None
                line = line or self._pick(self._lines["deflections"])
            self._add(line)
            return {"answered": "deflect"}
        if topic == "interests" and heard.asked_about:
            label = heard.asked_about[0]
            if _YES_NO_INTEREST.search(question.text):
                self._add(self._by_style("interest_yes"))
            told = label in state.revealed
            if told and self._about_interest(label, question.text):
                # "Any tips for a first trail race?" after the trail story.
                return {"answered": "interests"}
            if self._talk_about_interest(label):
                return {"answered": "interests"}
            if not told and self._about_interest(label, question.text):
                return {"answered": "interests"}
            if question.matched_topic and question.matched_topic != "interests":
                topic = question.matched_topic
            elif self.persona.interest(heard.asked_about[0]).kind == "work":
                return self._answer(
                    Question(question.text, None, 0.0, follow_up=question.follow_up),
                    heard,
                )
        item = self.persona.knowledge.get(topic)
        if item is not None:
            if self._add(self._next_answer(topic, question.text)):
                if topic not in state.topics:
                    state.topics.append(topic)
                state.warm_up()
                if item.parent in self.persona.all_interests:
                    # About one of its interests: "who's your team?" next is
                    # about that interest.
                    if item.parent not in state.revealed:
                        state.revealed.append(item.parent)
                    state.last_interest = item.parent
                    state.last_topic = None
                    return {"answered": "interests", "knowledge": topic}
                # A follow-up continues on the broader topic it belongs to.
                state.last_topic = item.parent or None
                return {
                    "answered": item.parent or "knowledge",
                    "addressed": [topic],
                    "knowledge": topic,
                }
            # Asked again, in other words ("what if it's a felony?" after
            # the answer about records): the point again, or the details.
            if self._restate(topic, question.text) or self._add(
                self._pick(self._lines["asked_again"])
            ):
                state.last_topic = item.parent or None
                return {"answered": item.parent or "knowledge", "follow_up": True}
            parent = item.parent or question.matched_topic
            if not parent or parent == topic:
                own = [d for d in self.persona.deflections if not self._said_any(d)]
                self._add(own[0] if own else self._pick(self._lines["topic_exhausted"]))
                return {"answered": "deflect"}
            topic = parent
        said = self._say_topic(topic, question.text)
        if not said:
            self._add(self._pick(self._lines["topic_exhausted"]))
        if topic not in state.topics:
            state.topics.append(topic)
        if topic not in ("name", "wellbeing", "weather"):
            state.warm_up()
        state.last_topic = topic
        return {"answered": topic}

    def _say_topic(self, topic: str, question: str = "") -> bool:
        if topic == "name":
            return self._add(self._pick(self._lines["name"]))
        if topic == "wellbeing":
            return self._add(self._pick(self._by_style("wellbeing")))
        if topic == "weather":
            return self._add(self._pick(self._lines["weather"]))
        if topic == "interests":
            return self._reveal_interest()
        if topic == "sports":
            return self._sports()
        answer = self._next_answer(topic, question)
        if answer is None and question:
            return self._restate(topic, question)
        if (
            topic == "day_to_day"
            and answer
            and not self._role_said(answer)
            and _plain_work_question(question)
        ):
            # "What do you do?" first gets the job itself, once; "do you give
            # feedback to people you don't hire?" does not.
            self._add(self._pick(self._lines["role_intro"]))
        return self._add(answer)

    def _role_said(self, answer: str) -> bool:
        # Once per conversation, even when the opener named the role: "what
        # do you do?" deserves the job itself.
        role = sentence_key(self.persona.role)
        return role in sentence_key(answer) or "day_to_day" in self.state.topics

    def _answers(self, topic: str) -> Sequence[str]:
        found = self.persona.find_topic(topic)
        if found is not None:
            return found.answers
        return self._lines["default_topics"].get(topic, ())

    def _next_answer(self, topic: str, question: str = "") -> Optional[str]:
        """The topic's best answer to the question not given yet, if any.

        When the question shares rare words with some answer ("how long is
        the wait"), only answers that share them qualify: once the answer
        about the wait was given, the next one about rent is no answer to it.
        """
        answers = self._answers(topic)
        used = self.state.answers_used.setdefault(topic, [])
        order = [i for i in range(len(answers)) if i not in used]
        if question:
            # The answer that shares most words with the question goes first
            # ("how long is the wait" -> the one about the wait); ties keep
            # the persona file's order, where the main answer comes first.
            overlap = {
                i: rare_overlap(question, answers[i], self.persona)
                for i in range(len(answers))
            }
            order.sort(key=lambda i: -overlap[i])
            detail = {
                i: detail_overlap(question, answers[i], self.persona)
                for i in range(len(answers))
            }
            best = max(overlap, key=lambda i: overlap[i], default=None)
            if (
                best in used
                and max(detail.values(), default=0.0) >= _RELEVANT_OVERLAP
            ):
                # Its best answer was given: only one on the same detail will do.
                order = [i for i in order if detail[i] > 0]
        values = self._values()
        for index in order:
            text = (
                answers[index].format(**values)
                if "{" in answers[index]
                else answers[index]
            )
            if not self._said_any(text):
                used.append(index)
                return text
        return None

    def _restate(self, topic: str, question: str) -> bool:
        """Asked again what it already answered: say the point again, briefly.

        "Like I said, a men's bed usually opens up in three to five weeks."
        is what a person says; a different answer from the same topic is not.
        """
        answers = self._answers(topic)
        best: Tuple[float, str] = (0.0, "")
        for index in self.state.answers_used.get(topic, []):
            if index >= len(answers):
                continue
            for sentence in split_sentences(answers[index]):
                score = detail_overlap(question, sentence, self.persona)
                if score > best[0]:
                    best = (score, sentence)
        if best[0] < _RELEVANT_OVERLAP or "{" in best[1] or len(best[1].split()) > 20:
            return False  # a long sentence said again reads as a recording
        sentence = best[1].rstrip("!")
        if not sentence.endswith((".", "?")):
            sentence += "."
        prefix = self._rng.choice(self._lines["restate"])
        return self._add(f"{prefix} {_lower_first(sentence, self.persona)}")

    def _about_interest(self, label: str, question: str) -> Optional[str]:
        """Say what the persona knows about one of its interests, best match first.

        Returns:
            The knowledge key said, or None when there was nothing new to say.
        """
        interest = self.persona.interest(label)
        if interest.story and not self._said_any(interest.story):
            # Its story first: the details ("I started in Damascus") lean on it.
            if self._add(interest.story):
                self.state.last_interest = label
                return f"story:{label}"
        asked = {stem(w) for w in words(question) if word_weight(w) == 1.0}
        keys = [w for k in self.persona.keywords_for(label) for w in words(k)]
        keys = [k for k in keys if len(k) > 3 and word_weight(k) == 1.0] or [label]
        mentions = re.compile(
            r"\b(?:" + "|".join(re.escape(k) for k in keys) + r")", re.I
        )
        about = [
            k
            for k, i in self.persona.knowledge.items()
            if i.parent == label
            or (not i.parent and any(mentions.search(t) for t in i.asks + i.answers))
        ]
        about.sort(
            key=lambda k: -max(
                len(asked & {stem(w) for w in words(ask)})
                for ask in self.persona.knowledge[k].asks
            )
        )
        for key in about:
            if self._add(self._next_answer(key, question)):
                self.state.last_interest = label
                return key
        return None

    def _talk_about_interest(self, label: str) -> bool:
        """They asked about one of the persona's interests: answer about it."""
        interest = self.persona.interest(label)
        if label not in self.state.revealed:
            self.state.revealed.append(label)
        self.state.last_topic = None
        self.state.last_interest = label
        lines = [interest.story] if interest.story else []
        if interest.kind == "work":
            # Their field is not a hobby: no "favourite way to switch off".
            return any(self._add(line) for line in lines)
        lines += [
            line.format(mine=interest.mine, mine_cap=_cap(interest.mine), label=label)
            for line in self._lines["asked_interest"]
        ]
        for line in lines:
            if self._add(line):
                return True
        return False

    def _reveal_interest(self) -> bool:
        state = self.state
        personal = [
            label
            for label in self.persona.all_interests
            if self.persona.interest(label).kind == "personal"
        ] or list(self.persona.all_interests)
        for label in personal:
            if label in state.revealed:
                continue
            interest = self.persona.interest(label)
            hidden = label in self.persona.hidden_interests
            pool = self._lines["interests_hidden" if hidden else "interests_open"]
            line = self._pick(pool, mine=interest.mine, mine_cap=_cap(interest.mine))
            if not self._add(line):
                continue
            state.revealed.append(label)
            state.last_interest = label
            if interest.story:
                self._add(interest.story)
            return True
        return self._add(self._pick(self._lines["interests_all_told"]))

    def _sports(self) -> bool:
        sport = next((i for i in self.persona.all_interests if _SPORTS.search(i)), None)
        if sport:
            interest = self.persona.interest(sport)
            if sport not in self.state.revealed:
                self.state.revealed.append(sport)
            self.state.last_interest = sport
            said = self._add(
                self._pick(self._lines["sports_fan"], label=interest.label)
            )
            if said and interest.story:
                self._add(interest.story)
            return said
        personal = [
            self.persona.interest(label)
            for label in self.persona.all_interests
            if self.persona.interest(label).kind == "personal"
        ] or [self.persona.interest(self.persona.interests[-1])]
        other = personal[0]
        return self._add(
            self._pick(
                self._lines["sports_not_fan"],
                label=other.label,
                mine_cap=_cap(other.mine),
            )
        )

    # -- 3. ask back ----------------------------------------------------------------

    def _fresh_question(
        self, pool: Sequence[Mapping[str, str]]
    ) -> Optional[Dict[str, str]]:
        for item in self._rng.sample(list(pool), len(pool)):
            stems = set(_stems(item["text"]))
            if (
                item["text"] not in self.state.asked
                and item["about"] not in self.state.known
                and not stems & set(self.state.told)
                # Nor the same question in other words ("what does a typical
                # week look like?", then "...a typical day...").
                and not any(stems & set(_stems(q)) for q in self.state.asked)
            ):
                # Nor a question about what they brought up themselves
                # ("Are you certified yet?" after "I just got certified").
                return dict(item)
        return None

    def _ask_back(
        self, heard: Heard, plan: Dict[str, Any], preferred: Optional[Dict[str, str]]
    ) -> Optional[str]:
        state = self.state
        state.open_question = None
        if "?" in " ".join(self._parts):
            return None
        if self._wrap_up():
            return None
        answered = plan.get("answered")
        if answered == "contact":
            return None
        reacted = str(plan.get("reacted") or "")
        if reacted.startswith("feeling:") and reacted[8:] not in _LIGHT_FEELINGS:
            return None  # after a disclosure or a worry, no change of subject
        if reacted == "thanks" and not answered:
            return None  # "ok thx so much" is winding down, not a cue for more
        if plan.get("follow_up"):
            # On a thread of theirs ("how long does that take?"), or asked
            # for details: let them carry on with it.
            return None
        candidate: Optional[Dict[str, str]] = preferred
        if candidate is None and answered in self._lines["reciprocal"]:
            candidate = self._fresh_question([self._lines["reciprocal"][answered]])
        if candidate is None:
            # After a real answer, leave room for the trainee's next question
            # every other time: a partner who always asks back interrogates.
            if answered and answered not in ("deflect",) and state.turn % 2 == 0:
                return None
            own = [{"text": q.text, "about": q.about} for q in self.persona.asked]
            if "role" not in state.known:
                # Who they are comes first: a stranger asks what you do.
                about_role = [q for q in own if q["about"] == "role"] or [
                    q for q in self._lines["generic_questions"] if q["about"] == "role"
                ]
                candidate = self._fresh_question(about_role)
            if candidate is None and own:
                candidate = self._fresh_question(own)
            if candidate is None:
                candidate = self._fresh_question(self._lines["generic_questions"])
        if candidate is None or not self._add(candidate["text"]):
            return None
        state.asked.append(candidate["text"])
        state.open_question = candidate["about"]
        if candidate["about"] in ("origin", "organization") and re.match(
            r"where\b", candidate["text"], re.I
        ):
            # "Where are you based?" after "Where are you coming in from?"
            # is the same question to a trainee.
            state.learn("origin")
            state.learn("organization")
        if candidate["about"] != "other":
            # One question per subject: never "how long have you been doing
            # this?" and then "how long have you been in the field?".
            state.learn(candidate["about"])
        return candidate["about"]

    def _wrap_up(self) -> bool:
        state = self.state
        limit = 7 if self.persona.personality == "busy" else 14
        if state.wrapped_up or state.turn < limit:
            return False
        state.wrapped_up = True
        return self._add(self._pick(self._by_style("wrap_up")))

    # -- closings -------------------------------------------------------------------

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
        self._parts.append(line)
        return self._finish({"answered": "pitch"})
