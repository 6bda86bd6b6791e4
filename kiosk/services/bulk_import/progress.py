"""What an import tells as it goes: its counts so far (:class:`ImportProgress`, after each batch),
and durations in words for people (the command's progress bar, the console job's stage line)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class ImportProgress:
    done: int
    total: int
    accepted: int
    refused: int
    duplicates: int
    people_created: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
