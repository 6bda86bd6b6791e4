"""The site's attendance rules as administrators set them on the Settings page.

Each rule starts as its environment variable (checked at start-up by ``kiosk.config``); a value
saved here replaces it for the whole site (every app host reads the same table), and saving
another value writes one audit entry with what it was before and after. Rules:

* ``repeat_rule`` (``KIOSK_REPEAT_RULE``): what a visit records (``in_out``, ``ignore``,
  ``check_out``, ``daily``: kiosk.services.attendance);
* ``minimum_gap_minutes`` (``KIOSK_DUPLICATE_WINDOW_MINUTES``): a visit this soon after the
  person's last punch records nothing (the kiosk says "already in"), so "out" needs this gap;
* ``rounding_minutes`` (``KIOSK_ROUNDING_MINUTES``, 0: off): a day's worked time is rounded to
  the nearest multiple (kiosk.services.hours).

Errors: ``InvalidInput`` ``bad_setting`` (a value the rule does not take, an unknown rule).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from flask import current_app
from sqlalchemy import select

from ..config import REPEAT_RULES, ROUNDING_STEPS, ConfigError, repeat_rule_named, rounding_named
from ..errors import InvalidInput
from ..extensions import db
from ..languages import mark
from ..models import SiteSetting, utcnow
from . import audit
from .audit_actions import SETTINGS_CHANGED

MAX_GAP_MINUTES = 24 * 60


def _gap(value: Any) -> float:
    try:
        minutes = float(str(value).strip())
    except ValueError as err:
        raise ConfigError(f"The minimum gap must be a number of minutes, not {value!r}.") from err
    minutes = int(minutes) if minutes.is_integer() else minutes
    if not 0 <= minutes <= MAX_GAP_MINUTES:
        raise ConfigError(f"The minimum gap is 0 to {MAX_GAP_MINUTES} minutes, not {minutes}.")
    return minutes


@dataclass(frozen=True)
class Rule:
    key: str
    env: str
    label: str
    parse: Callable[[Any], Any]  # raises ConfigError with a message for the admin
    choices: tuple = ()
    fallback: Any = None  # when the app's config lacks the variable (a bare test config)


RULES: dict[str, Rule] = {
    rule.key: rule
    for rule in (
        Rule("repeat_rule", "KIOSK_REPEAT_RULE", mark("What a visit records"), repeat_rule_named, REPEAT_RULES),
        Rule("minimum_gap_minutes", "KIOSK_DUPLICATE_WINDOW_MINUTES", mark("Minimum gap between punches (minutes)"),
             _gap, fallback=30),
        Rule("rounding_minutes", "KIOSK_ROUNDING_MINUTES", mark("Round worked time to (minutes, 0: off)"),
             rounding_named, ROUNDING_STEPS),
    )
}

# What the Settings page calls each repeat rule (translated where it is shown).
REPEAT_RULE_LABELS: dict[str, str] = {
    "in_out": mark("In, then out, then in and out alternate (breaks)"),
    "ignore": mark("Every visit is a check-in"),
    "check_out": mark("A visit after a check-in is a check-out"),
    "daily": mark("The day's first visit is in, every later one out"),
}


def choice_label(value: Any) -> str:
    """What a person reads for one of a rule's choices (English; a number stays itself)."""
    return REPEAT_RULE_LABELS.get(value, str(value))


def default(key: str) -> Any:
    """The rule's value from the environment (the app's config)."""
    rule = RULES[key]
    return rule.parse(current_app.config.get(rule.env, rule.fallback))


def value(key: str) -> Any:
    """The rule as the site applies it: the saved value, else the environment's."""
    row = db.session.get(SiteSetting, key)
    if row is None:
        return default(key)
    return RULES[key].parse(json.loads(row.value))


def current() -> dict[str, Any]:
    return {key: value(key) for key in RULES}


def overridden() -> set[str]:
    """The rules an administrator has set (the others follow their environment variable)."""
    return set(db.session.scalars(select(SiteSetting.key)))


def change(values: dict[str, Any], *, actor: audit.Actor | str | None, reason: str | None = None) -> dict[str, Any]:
    """Save the rules given (every one checked before any is saved); one audit entry with the
    rules that changed. Returns the site's rules afterwards."""
    parsed = {}
    for key, raw in values.items():
        if key not in RULES:
            raise InvalidInput(f"There is no site setting {key!r}.", code="bad_setting", field=key)
        try:
            parsed[key] = RULES[key].parse(raw)
        except ConfigError as err:
            raise InvalidInput(str(err).replace(RULES[key].env, RULES[key].label), code="bad_setting",
                               field=key) from err
    before = current()
    changed = {key: new for key, new in parsed.items() if before[key] != new}
    if not changed:
        return before
    for key, new in changed.items():
        row = db.session.get(SiteSetting, key) or SiteSetting(key=key)
        row.value, row.changed_at, row.changed_by = json.dumps(new), utcnow(), audit.actor_name(actor)
        db.session.add(row)
    audit.record(SETTINGS_CHANGED, audit.Target("settings", None, ", ".join(sorted(changed))), actor=actor,
                 reason=reason, before={k: before[k] for k in changed}, after=changed)
    db.session.commit()
    return current()
