"""Turning a change of a payment or refund into queued webhook deliveries.

Events are written in the same transaction as the change they describe, so a
change and its event are stored together or not at all. The webhook knobs are
applied here, when the event is made: `drop` writes no delivery, `duplicate`
writes a second one with the same id and body, `reorder` holds it.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable

from . import clock
from .faults import FaultRegistry
from .ids import new_id
from .methods import is_silent
from .objects import JsonObject, dumps
from .store import Tx

# How long an event is held for reordering: real seconds, never scaled.
REORDER_HOLD = 1.0


class EventWriter:
    def __init__(self, faults: FaultRegistry, wake_delivery: Callable[[], None]) -> None:
        self._faults = faults
        self._wake_delivery = wake_delivery

    def emit(self, tx: Tx, *, payment: sqlite3.Row, event_type: str, data: JsonObject) -> None:
        """Queue `event_type` about `payment` (or one of its refunds)."""
        if is_silent(payment["payment_method"]):
            return
        knobs = self._faults.knobs
        if knobs.drop and random.random() < knobs.drop:  # noqa: S311 - chaos, not crypto
            return
        now = clock.now()
        event_id = new_id("evt")
        body = dumps(
            {
                "id": event_id,
                "type": event_type,
                "created_at": clock.rfc3339(now),
                "data": data,
            }
        )
        group_key, due_at = None, now
        if knobs.reorder:
            # Events of one payment within REORDER_HOLD of each other are sent
            # together, newest first, once the newest has been held that long.
            group_key, due_at = payment["id"], now + REORDER_HOLD
            tx.conn.execute(
                "UPDATE deliveries SET due_at = ? WHERE group_key = ? AND claimed = 0 AND attempts = 0 AND due_at > ?",
                (due_at, group_key, now),
            )
        copies = 2 if knobs.duplicate and random.random() < knobs.duplicate else 1  # noqa: S311
        tx.conn.executemany(
            "INSERT INTO deliveries (event_id, group_key, url, body, due_at) VALUES (?, ?, ?, ?, ?)",
            [(event_id, group_key, payment["webhook_url"], body, due_at)] * copies,
        )
        tx.on_commit(self._wake_delivery)
