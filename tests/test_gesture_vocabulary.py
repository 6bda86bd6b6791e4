"""One gesture vocabulary (kiosk/gesture_vocabulary.py): the database's check, the kiosk page,
the admin's recording page and the CLI all take the names (and what they mean) from it, and no
other source file spells them out."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from kiosk.extensions import db
from kiosk.gesture_vocabulary import GESTURES, Gesture, kiosk_vocabulary
from kiosk.models import GestureSample

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.both_databases
def test_the_database_accepts_exactly_the_vocabulary(app):
    """The migrated database's check on gesture_sample.label names exactly the vocabulary's
    gestures (a gesture added to the vocabulary without a migration fails here)."""
    if db.engine.dialect.name == "sqlite":
        table_sql = db.session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'gesture_sample'"))
        check = re.search(r"CONSTRAINT ck_gesture_sample_label_known CHECK \((.*?)\)\s*(,|\))", table_sql).group(1)
    else:
        check = db.session.scalar(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                       "WHERE conname = 'ck_gesture_sample_label_known'"))
    assert tuple(re.findall(r"'([^']+)'", check)) == GESTURES
    for gesture in Gesture:
        db.session.add(GestureSample(label=gesture.value, landmarks_json="[]"))
    db.session.commit()
    db.session.add(GestureSample(label="wave", landmarks_json="[]"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_kiosk_page_gets_the_names_from_the_server(client):
    page = client.get("/").text
    served = json.loads(html.unescape(re.search(r"data-gestures='([^']*)'", page).group(1)))
    assert served == kiosk_vocabulary()
    assert served["words"] == {gesture.value: gesture.kiosk_words for gesture in Gesture}
    assert f'<span id="gesture-label" class="meter-label">{html.escape(served["prompt"])}</span>' in page
    script = (REPO / "static" / "js" / "kiosk.js").read_text()
    assert "gestures.words[name]" in script and "gestures.idle" in script and "gestures.capture" in script


def test_the_recording_page_offers_each_gesture_with_its_meaning(client, sign_in_admin):
    sign_in_admin(client)
    page = client.get("/admin/models/gestures").text
    offered = re.findall(r'name="gesture-label" value="([^"]+)"[^>]*>\s*([^<]+)</label>', page)
    assert [(value, " ".join(words.split())) for value, words in offered] == [
        (gesture.value, f"{gesture.kiosk_words} — {gesture.meaning}") for gesture in Gesture]
    assert 'data-idle-label="idle"' in page


def test_the_cli_takes_and_explains_the_vocabulary(runner):
    refused = runner.invoke(args=["gesture-samples", "add", "wave", "photo.jpg"])
    assert refused.exit_code == 2
    assert all(f"'{name}'" in refused.output for name in GESTURES), refused.output
    helped = runner.invoke(args=["gesture-samples", "add", "--help"])
    assert helped.exit_code == 0
    for gesture in Gesture:
        assert f"{gesture.value}: {gesture.meaning}" in helped.output


def test_no_other_source_spells_the_gesture_names_out():
    """The names as quoted strings appear only in the vocabulary: everything else uses it (the
    kiosk page's script gets them in its HTML)."""
    sources = [*(REPO / "kiosk").rglob("*.py"), *(REPO / "static" / "js").glob("*.js"),
               *(REPO / "templates").rglob("*.html"), *(REPO / "training").glob("*.py")]
    # "capture" or "idle" quoted; "O" or "X" as a key, compared with, or listed together.
    quoted = re.compile(r"""["'](capture|idle)["']|["'][OX]["']\s*:|==\s*["'][OX]["']|["']O["'],\s*["']X["']""")
    copies = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
              for path in sources if path.name != "gesture_vocabulary.py"
              for number, line in enumerate(path.read_text().splitlines(), 1) if quoted.search(line)]
    assert copies == []
