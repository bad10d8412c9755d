"""Asking the PSP about one attempt or refund now: the one code path of the poller, of staff's
"Ask the PSP now" and of anything else that wants the PSP's current word on a row.

It runs the row's sync (`attempt_sync` / `refund_sync`: version-guarded, through the status
machine) and says what came of it as a value, so that no caller parses a sentence. It never
raises for a PSP that cannot answer: that is `answered=False`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from payments.attempt_lifecycle import attempt_sync
from payments.models import PaymentAttempt, Refund
from payments.psp.types import PspError
from payments.refunds import refund_sync
from payments.transitions import Cause

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PspAnswer:
    """The row's status before and after asking; `after` is None when the PSP could not answer."""

    before: str
    after: str | None
    problem: str = ""  # why the PSP could not answer

    @property
    def answered(self) -> bool:
        return self.after is not None

    @property
    def changed(self) -> bool:
        return self.after is not None and self.after != self.before

    def sentence(self) -> str:
        """What staff read on the timeline."""
        if self.after is None:
            return f"the PSP could not answer: {self.problem}"
        return f"{self.before} → {self.after}" if self.changed else f"still {self.after}"


def attempt_ask(*, attempt_id: uuid.UUID, cause: Cause) -> PspAnswer:
    """Ask the PSP about one attempt and apply its answer. No transaction may be open."""
    before = PaymentAttempt.objects.values_list("status", flat=True).get(id=attempt_id)
    return _ask(before, lambda: attempt_sync(attempt_id=attempt_id, cause=cause).status, f"attempt {attempt_id}")


def refund_ask(*, refund_id: uuid.UUID, cause: Cause) -> PspAnswer:
    """As `attempt_ask`, for a refund."""
    before = Refund.objects.values_list("status", flat=True).get(id=refund_id)
    return _ask(before, lambda: refund_sync(refund_id=refund_id, cause=cause).status, f"refund {refund_id}")


def _ask(before: str, sync: Callable[[], str], what: str) -> PspAnswer:
    try:
        return PspAnswer(before=before, after=sync())
    except PspError as exc:
        logger.warning("asking the PSP about %s: no answer", what, exc_info=True)
        return PspAnswer(before=before, after=None, problem=str(exc))
