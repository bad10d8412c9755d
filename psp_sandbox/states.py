"""The status machines of payments and refunds: every allowed move, nothing else."""

from __future__ import annotations

PAYMENT_MOVES: dict[str, frozenset[str]] = {
    "requires_action": frozenset({"pending", "succeeded", "failed"}),
    "pending": frozenset({"succeeded", "failed"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
}

REFUND_MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"succeeded", "failed"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
}

# Statuses that hold a session's token: at most one payment per session in them.
LIVE_PAYMENT_STATUSES = frozenset({"requires_action", "pending", "succeeded"})


def check_move(moves: dict[str, frozenset[str]], current: str, new: str) -> None:
    if new not in moves[current]:
        raise ValueError(f"status move {current} -> {new} is not allowed")
