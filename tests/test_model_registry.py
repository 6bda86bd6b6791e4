"""The model registry that warm-up walks (kiosk/services/model_registry.py): the kiosk's steps come
in an order that feeds each step what it reads, a registry refuses steps it cannot order, and a
step that may fail is reported instead of stopping the walk. The real walk on the real models is
tests/test_warmup.py."""

from __future__ import annotations

import pytest

from kiosk.services.model_registry import KIOSK_MODELS, ModelRegistry, WarmUpRun
from kiosk.vision.lazy import ModelUnavailable


def test_the_kiosk_steps_come_after_what_they_read():
    order = [step.name for step in KIOSK_MODELS.ordered()]
    assert sorted(order) == sorted(KIOSK_MODELS.names)  # every step, once
    position = {name: i for i, name in enumerate(order)}
    for step in KIOSK_MODELS.ordered():
        for need in step.needs:
            assert position[need] < position[step.name], (need, step.name)
    # The data flow the warm-up depends on: pose feeds the gesture step, detection feeds the
    # face models, the embedder comes before identification, and the whole pipeline runs last.
    assert position["pose"] < position["gesture"]
    for reads_the_face in ("embedding", "identification", "emotion", "face_mesh", "liveness"):
        assert position["face_detection"] < position[reads_the_face]
    assert position["embedding"] < position["identification"]
    assert order[0] == "decode" and order[-1] == "pipeline"
    # Only the liveness model may be missing without failing the warm-up.
    assert [s.name for s in KIOSK_MODELS.ordered() if not s.required] == ["liveness"]


def test_steps_run_after_their_needs_whatever_order_they_were_registered_in():
    registry = ModelRegistry()
    seen: list[str] = []

    @registry.step("classify", needs=("landmarks",))
    def classify(run: WarmUpRun) -> str:
        seen.append("classify")
        return f"gesture from {run.results['landmarks']}"

    @registry.step("landmarks", needs=("frame",))
    def landmarks(run: WarmUpRun) -> str:
        seen.append("landmarks")
        return f"landmarks of {run.results['frame']}"

    @registry.step("frame")
    def frame(run: WarmUpRun) -> str:
        seen.append("frame")
        run.label = "frame person.jpg"
        return "person.jpg"

    run = WarmUpRun()
    seconds = registry.walk(run)
    assert seen == ["frame", "landmarks", "classify"]
    assert run.results["classify"] == "gesture from landmarks of person.jpg"
    # A step may report its time under a more precise name (which embedder it warmed).
    assert list(seconds) == ["frame person.jpg", "landmarks", "classify"]
    assert all(s >= 0 for s in seconds.values())


def test_a_step_that_may_fail_is_reported_and_the_walk_goes_on_a_required_one_stops_it():
    registry = ModelRegistry()

    @registry.step("liveness", required=False)
    def missing_liveness(run: WarmUpRun) -> None:
        raise ModelUnavailable("models/liveness/ is missing: restore it")

    @registry.step("emotion")
    def emotion(run: WarmUpRun) -> str:
        return "happy"

    run = WarmUpRun()
    seconds = registry.walk(run)
    assert run.problems == {"liveness": "models/liveness/ is missing: restore it"}
    assert list(seconds) == ["emotion"] and run.results["emotion"] == "happy"

    strict = ModelRegistry()

    @strict.step("emotion")
    def missing_emotion(run: WarmUpRun) -> None:
        raise ModelUnavailable("models/emotion/ is missing")

    with pytest.raises(ModelUnavailable, match="emotion"):
        strict.walk(WarmUpRun())


def test_a_registry_refuses_what_it_cannot_order():
    twice = ModelRegistry()
    twice.step("pose")(lambda run: None)
    with pytest.raises(ValueError, match="'pose' is registered twice"):
        twice.step("pose")(lambda run: None)

    unknown = ModelRegistry()
    unknown.step("gesture", needs=("pose",))(lambda run: None)
    with pytest.raises(ValueError, match="'gesture' needs unknown steps: pose"):
        unknown.ordered()

    circular = ModelRegistry()
    circular.step("a", needs=("b",))(lambda run: None)
    circular.step("b", needs=("a",))(lambda run: None)
    with pytest.raises(ValueError, match="a, b need each other"):
        circular.ordered()
