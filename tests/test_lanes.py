"""kiosk.vision.lanes: copies of a one-frame-at-a-time model, lent to one frame each (issue 26)."""

from __future__ import annotations

import itertools
import threading

import pytest

from kiosk.vision.lanes import Lanes, lane_count


def test_free_lanes_are_taken_in_turn_and_each_made_once():
    made = itertools.count()
    lanes = Lanes(lambda: next(made), count=3)
    assert len(lanes) == 3 and lanes.all == [0, 1, 2]
    taken = []
    for _ in range(6):
        with lanes.take() as lane:
            taken.append(lane)
    assert taken == [0, 1, 2, 0, 1, 2]


def test_a_frame_waits_only_when_every_lane_is_busy():
    lanes = Lanes(object, count=2)
    got: list = []

    def take_one():
        with lanes.take() as lane:
            got.append(lane)

    with lanes.take() as first:
        thread = threading.Thread(target=take_one, daemon=True)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive() and got[0] is not first  # the other lane was free
        with lanes.take():
            waiting = threading.Thread(target=take_one, daemon=True)
            waiting.start()
            waiting.join(timeout=0.3)
            assert waiting.is_alive()  # both lanes held: it cannot go on
        waiting.join(timeout=30)
        assert not waiting.is_alive() and len(got) == 2


def test_every_holds_all_lanes_until_it_is_done():
    lanes = Lanes(object, count=2)
    with lanes.every() as every:
        assert sorted(map(id, every)) == sorted(map(id, lanes.all))
        thread = threading.Thread(target=lambda: lanes.take().__enter__(), daemon=True)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.parametrize(("value", "expected"), [("2", 2), ("16", 16)])
def test_the_setting_sets_the_count(monkeypatch, value, expected):
    monkeypatch.setenv("KIOSK_MODEL_LANES", value)
    assert lane_count() == expected == len(Lanes(object))


@pytest.mark.parametrize("value", ["0", "two", "-1", "17"])
def test_a_wrong_model_lanes_setting_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("KIOSK_MODEL_LANES", value)
    with pytest.raises(ValueError, match="KIOSK_MODEL_LANES must be a whole number from 1 to 16"):
        lane_count()
