"""Armed faults and webhook knobs, set through /sandbox/faults.

Both live in memory only: a restart disarms every fault and resets the knobs,
which is what a test or a demo wants after a restart anyway.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

KINDS = ("error_before", "error_after", "drop_after")
_SLOW = re.compile(r"slow:([0-9]+(?:\.[0-9]+)?)")


@dataclass
class Fault:
    path: str
    fault: str
    times: int
    matcher: re.Pattern[str]

    @property
    def slow_seconds(self) -> float:
        match = _SLOW.fullmatch(self.fault)
        return float(match.group(1)) if match else 0.0

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "fault": self.fault, "times": self.times}


def is_valid_kind(fault: str) -> bool:
    return fault in KINDS or _SLOW.fullmatch(fault) is not None


def compile_path(pattern: str) -> re.Pattern[str]:
    """`{name}` matches one segment, a trailing `*` any rest, the rest exactly."""
    rest_wildcard = pattern.endswith("*")
    body = pattern[:-1] if rest_wildcard else pattern
    parts = re.split(r"(\{[^/{}]*\})", body)
    regex = "".join("[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part) for part in parts)
    return re.compile(regex + (".*" if rest_wildcard else ""), re.DOTALL)


@dataclass
class WebhookKnobs:
    duplicate: float = 0.0
    drop: float = 0.0
    reorder: bool = False

    def as_json(self) -> dict[str, object]:
        return {"duplicate": self.duplicate, "drop": self.drop, "reorder": self.reorder}


class FaultRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.knobs = WebhookKnobs()

    def arm(self, path: str, fault: str, times: int) -> None:
        with self._lock:
            self._faults.append(Fault(path, fault, times, compile_path(path)))

    def set_knobs(self, changes: dict[str, object]) -> None:
        # A new object, swapped in whole, so a reader never sees half an update.
        merged = {**self.knobs.as_json(), **changes}
        self.knobs = WebhookKnobs(
            duplicate=float(merged["duplicate"]),  # type: ignore[arg-type]
            drop=float(merged["drop"]),  # type: ignore[arg-type]
            reorder=bool(merged["reorder"]),
        )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.knobs = WebhookKnobs()

    def take(self, path: str) -> Fault | None:
        """Use up one `times` of the first armed fault matching `path` (FIFO)."""
        if not self._faults:  # the hot path: nothing armed, no lock taken
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matcher.fullmatch(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def as_json(self) -> dict[str, object]:
        with self._lock:
            faults = [fault.as_json() for fault in self._faults]
        return {"faults": faults, "webhooks": self.knobs.as_json()}
