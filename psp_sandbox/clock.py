"""Wall-clock time, RFC 3339 formatting, and the scaling of PSP time to real time."""

from __future__ import annotations

import time

now = time.time


def rfc3339(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


class Scale:
    """Turns PSP seconds (settle delay, retry schedule) into real seconds.

    One factor for both, so that "two hours" at a real PSP can be seconds in a
    demo or a test while every ratio between delays stays the same.
    """

    def __init__(self, real_seconds_per_psp_second: float) -> None:
        self.factor = real_seconds_per_psp_second

    def real(self, psp_seconds: float) -> float:
        return psp_seconds * self.factor
