"""The README's first-day walkthrough as benchmarks/first_day.py reads it (``make first-day`` runs
the whole walkthrough in a fresh clone; too slow for the suite): the commands come out of the
README's code blocks in the order written, and everything a person supplies is filled in."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("first_day", REPO / "benchmarks" / "first_day.py")
first_day = importlib.util.module_from_spec(spec)
sys.modules["first_day"] = first_day  # its dataclasses look their module up by name
spec.loader.exec_module(first_day)

README = (REPO / "README.md").read_text()


def test_the_walkthrough_commands_are_the_readmes_in_order():
    commands = first_day.walkthrough_commands(README)
    section = first_day.walkthrough_section(README)
    # Every command is a line of the section, and they come in the order the section has them.
    positions = [section.index(c.line) for c in commands]
    assert positions == sorted(positions)
    kinds = [" ".join(c.argv[:3]) for c in commands]
    assert kinds[0] == "make run" and commands[0].step == "1"
    assert kinds.index(".venv/bin/kiosk admin create") < kinds.index(".venv/bin/kiosk people enroll")
    assert kinds.index(".venv/bin/kiosk devices pair") == len(kinds) - 1
    assert commands[-1].step == "3"
    assert all("#" not in " ".join(c.argv) for c in commands)  # comments are not arguments


def test_photos_and_the_pairing_code_are_filled_in():
    plan = first_day.Plan.from_readme(README)
    enrolls = [c for c in plan.commands if c.argv[1:3] == ["people", "enroll"]]
    assert [c.argv[3] for c in enrolls] == plan.enrolled and len(enrolls) >= 1
    for command, photos in zip(enrolls, first_day.PEOPLE_PHOTOS):
        assert command.argv[4:] == [str(p) for p in photos[:len(command.argv) - 4]]
    # The first person enrolled is the one the fake camera shows: Barack Obama's real photos.
    assert all("fr_obama" in p for p in enrolls[0].argv[4:])
    pair = plan.pairing_command()
    assert first_day.PAIRING_PLACEHOLDER.match(pair.argv[3]), pair.argv


def test_a_readme_without_the_walkthrough_or_its_commands_is_refused():
    with pytest.raises(SystemExit, match="no section"):
        first_day.walkthrough_commands("# Kiosk\n\n## Other\n")
    without_pairing = ("## First day\n\n1. Start\n\n   ```sh\n   make run\n"
                       "   .venv/bin/kiosk people enroll A a1.jpg\n   ```\n")
    with pytest.raises(SystemExit, match="devices pair"):
        first_day.Plan.from_readme(without_pairing)
    too_many_photos = without_pairing.replace("a1.jpg", " ".join(f"a{n}.jpg" for n in range(9)))
    with pytest.raises(SystemExit, match="cannot map"):
        first_day.Plan.from_readme(too_many_photos)


def test_the_reading_estimate_counts_the_walkthroughs_words_not_its_image_links():
    words = first_day.reading_words(README)
    section = first_day.walkthrough_section(README)
    assert 300 < words < len(section.split())
    assert first_day.reading_words("## First day\n\nOne two three ![alt](docs/x.png)\n") == 5
