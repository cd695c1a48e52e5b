"""The persona file: schema, defaults, validation and look-ups."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from introcoach.personas import (
    PersonaError,
    all_personas,
    get_persona,
    load_personas_file,
    persona_from_dict,
    persona_named_in,
    pick_persona,
)

MINIMAL = {
    "id": "sky",
    "name": "Sky Lee",
    "role": "outreach worker",
    "organization": "Hope Street",
    "interests": ["jazz"],
}


def test_packaged_personas_cover_the_conference() -> None:
    personas = all_personas()
    assert len(personas) >= 6
    assert len({p.id for p in personas}) == len(personas)
    full = [p for p in personas if p.hidden_interests]
    assert len(full) >= 6
    for persona in full:
        assert persona.scene and persona.opener and persona.facts and persona.questions
        assert persona.personality in ("warm", "busy", "reserved", "curious")


def test_required_keys_are_enough() -> None:
    persona = persona_from_dict(MINIMAL)
    assert persona.interests == ("jazz",)
    assert persona.first_name == "Sky" and persona.initials == "SL"
    assert "Sky" in persona.scene and "outreach worker" in persona.opener
    assert persona.facts and persona.questions
    assert persona.keywords_for("jazz") == ("jazz",)


@pytest.mark.parametrize("missing", ["id", "name", "role", "organization", "interests"])
def test_missing_required_key_is_named(missing: str) -> None:
    data = {k: v for k, v in MINIMAL.items() if k != missing}
    with pytest.raises(PersonaError, match=missing):
        persona_from_dict(data)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"interests": "jazz"}, "list of strings"),
        ({"interests": []}, "at least one"),
        ({"id": "Has Spaces"}, "lower-case"),
        ({"personality": "grumpy"}, "personality"),
        ({"name": "   "}, "non-empty"),
        ({"knowledge": [{"asks": ["do you hire"]}]}, "needs asks and an answer"),
        (
            {"knowledge": [{"asks": ["x y"], "answer": "Yes.", "topic": "nope"}]},
            "neither a standard topic",
        ),
        ({"knowledge": "do you hire"}, "'knowledge' must be a list"),
        ({"reactions": [{"hears": ["i'm job hunting"]}]}, "needs hears and says"),
    ],
)
def test_invalid_values_are_explained(change, message) -> None:
    with pytest.raises(PersonaError, match=message):
        persona_from_dict({**MINIMAL, **change})


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="not found"):
        load_personas_file(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("personas: [\n  - id: x\n")
    with pytest.raises(PersonaError, match="not valid YAML"):
        load_personas_file(bad)
    dup = tmp_path / "dup.yml"
    dup.write_text(
        "personas:\n  - {id: a, name: A, role: r, organization: o, interests: [x]}\n"
        "  - {id: a, name: B, role: r, organization: o, interests: [y]}\n"
    )
    with pytest.raises(PersonaError, match="twice"):
        load_personas_file(dup)


def test_single_persona_file(tmp_path: Path) -> None:
    one = tmp_path / "one.yml"
    one.write_text(
        "id: sky\nname: Sky Lee\nrole: outreach worker\norganization: Hope "
        "Street\ninterests: [jazz]\n"
    )
    assert [p.id for p in load_personas_file(one)] == ["sky"]


def test_adding_a_persona_is_a_yaml_edit(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "personas.yml"
    path.write_text(
        "personas:\n  - {id: sky, name: Sky Lee, role: outreach worker, organization: "
        "Hope Street, interests: [jazz]}\n"
    )
    monkeypatch.setenv("INTROCOACH_PERSONAS", str(path))
    assert [p.id for p in all_personas()] == ["sky"]
    path.write_text(
        path.read_text()
        + "  - {id: max, name: Max Roe, role: nurse, organization: City Clinic,"
        " interests: [chess]}\n"
    )
    import os

    os.utime(path, (path.stat().st_atime + 5, path.stat().st_mtime + 5))
    assert [p.id for p in all_personas()] == ["sky", "max"]
    assert get_persona("max").role == "nurse"


def test_lookups() -> None:
    assert get_persona("dana").name == "Dana Whitfield"
    with pytest.raises(PersonaError, match="unknown persona 'zed'"):
        get_persona("zed")
    assert (
        persona_named_in("can I talk to the recovery housing director?").id == "marcus"
    )
    assert persona_named_in("I'd like to meet Priya Raman").id == "priya"
    assert persona_named_in("someone else please") is None
    assert pick_persona(exclude="dana", seed="s").id != "dana"
    assert pick_persona(seed="s") == pick_persona(seed="s")


def _check(tmp_path: Path, extra: str = "") -> int:
    """Run ``introcoach personas check`` on MINIMAL plus ``extra`` YAML."""
    from introcoach.cli import main

    path = tmp_path / "one.yml"
    path.write_text(yaml.safe_dump(MINIMAL) + extra, encoding="utf-8")
    return main(["personas", "check", str(path)])


def test_knowledge_and_reactions_are_read() -> None:
    persona = persona_from_dict(
        {
            **MINIMAL,
            "knowledge": [
                {"asks": ["do you hire", "are you hiring"], "answer": "We are."},
                {"asks": ["a", "b"], "answers": ["One.", "Two."], "topic": "jazz"},
                {"asks": ["c", "d"], "answer": "Three.", "topic": "access"},
            ],
            "reactions": [{"hears": ["i'm job hunting"], "says": ["Good timing."]}],
        }
    )
    first = persona.knowledge["knowledge:1"]
    assert first.asks == ("do you hire", "are you hiring")
    assert first.answers == ("We are.",) and first.parent == ""
    assert persona.knowledge["knowledge:2"].parent == "jazz"
    assert persona.find_topic("knowledge:3").parent == "access"
    assert persona.reactions[0].says == ("Good timing.",)


def test_personas_check_reports_thin_parts(tmp_path: Path, capsys) -> None:
    assert _check(tmp_path) == 0
    out = capsys.readouterr().out
    assert "schema valid" in out and "sky (Sky Lee)" in out
    assert "topics answered from the shared defaults" in out
    assert "no deflections" in out
    assert "no knowledge items" in out and "no reactions" in out


def test_personas_check_fails_on_a_schema_error(tmp_path: Path, capsys) -> None:
    assert _check(tmp_path, "topics:\n  story: {asks: [why]}\n") == 1
    assert "schema error" in capsys.readouterr().out


def test_the_packaged_personas_are_complete() -> None:
    from introcoach.personas import thin_parts

    for persona in all_personas():
        if persona.id != "grace":  # minimal on purpose
            assert thin_parts(persona) == [], persona.id


def test_interest_mappings_keep_labels_and_variants() -> None:
    persona = persona_from_dict(
        {
            **MINIMAL,
            "interests": [
                {
                    "label": "dogs",
                    "kind": "personal",
                    "mine": "my rescue dog, Biscuit",
                    "story": "Biscuit runs the house.",
                    "variants": ["dog", "puppy"],
                },
                "harm reduction",
            ],
        }
    )
    assert persona.interests == ("dogs", "harm reduction")
    assert persona.keywords_for("dogs") == ("dogs", "dog", "puppy")
    assert persona.interest("dogs").mine == "my rescue dog, Biscuit"
    assert persona.interest("harm reduction").kind == "work"
