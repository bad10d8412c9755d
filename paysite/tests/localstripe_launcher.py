"""Start localstripe (the third-party Stripe emulator) for the tests, with the few patches that no
HTTP proxy can make. Each patch restores one documented behaviour of real Stripe and says which;
everything that can be fixed over HTTP is fixed in `stripe_bridge` instead.

    python -m paysite.tests.localstripe_launcher --port 0 [--settle-delay SECONDS]

prints "localstripe listening on http://127.0.0.1:PORT" once it accepts connections. It serves on
loopback only and keeps its state in memory (stock localstripe listens on every interface and
pickles its whole store to the shared /tmp/localstripe.pickle after every write).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

from aiohttp import web
from localstripe import resources, server

# Stripe's test card that is declined when charged (pm_card_chargeDeclined, decline code generic_decline);
# localstripe declines it only when it is attached to a customer.
DECLINED_AT_CHARGE = "4000000000000002"


def patch_in_memory_store() -> None:
    # Each test session's emulator is its own; nothing is read from or written to /tmp.
    resources.Store.dump_to_disk = lambda self: None


def patch_declined_card() -> None:
    charging_is_declined = resources.PaymentMethod._charging_is_declined

    def declined(self: Any) -> bool:
        return charging_is_declined(self) or getattr(self, "_card_number", None) == DECLINED_AT_CHARGE

    resources.PaymentMethod._charging_is_declined = declined


def patch_confirm_again_after_failure() -> None:
    # Real Stripe: after a failed charge the intent is requires_payment_method; giving it a new
    # payment_method makes it requires_confirmation, and confirming makes a new charge. localstripe
    # derives the status from latest_charge, so the failed charge pinned it to requires_payment_method.
    update = resources.PaymentIntent._update
    status = resources.PaymentIntent.status.fget

    def _update(self: Any, **data: Any) -> None:
        update(self, **data)
        charge = self.latest_charge
        if data.get("payment_method") and charge is not None and charge.status == "failed":
            self._superseded_charge = charge.id

    def confirmable_again(self: Any) -> Any:
        superseded = self.latest_charge is not None and self.latest_charge.id == getattr(self, "_superseded_charge", "")
        if superseded and self.payment_method and not self.next_action and not self._canceled:
            return "requires_confirmation"
        return status(self)

    resources.PaymentIntent._update = _update
    resources.PaymentIntent.status = property(confirmable_again)


def patch_async_debits_settle_later(settle_delay: float) -> None:
    # Real Stripe: a SEPA debit's charge is `pending` (its intent `processing`) until the bank settles it.
    # localstripe marks it succeeded at once and only books the money later (after a fixed 0.5 s).
    initialize = resources.Charge._initialize_charge

    def _initialize_charge(self: Any, *args: Any, **kwargs: Any) -> None:
        initialize(self, *args, **kwargs)
        if self._is_async_payment_method() and self.status == "succeeded" and self.balance_transaction is None:
            self.status = "pending"  # the settling callback sets succeeded (or failed) and sends the event

    resources.Charge._initialize_charge = _initialize_charge

    class SettlingClock:
        """localstripe's `asyncio`, its pauses (all of them the hard-coded 0.5 s of settling) made `settle_delay`."""

        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        @staticmethod
        async def sleep(_seconds: float) -> None:
            await asyncio.sleep(settle_delay)

    resources.asyncio = SettlingClock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--settle-delay", type=float, default=0.5, help="seconds before a SEPA debit settles")
    args = parser.parse_args()
    patch_in_memory_store()
    patch_declined_card()
    patch_confirm_again_after_failure()
    patch_async_debits_settle_later(args.settle_delay)
    listener = socket.socket()
    listener.bind(("127.0.0.1", args.port))
    listener.listen(128)  # connections wait in the backlog until the app serves them
    print(f"localstripe listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    web.run_app(server.app, sock=listener, print=None, access_log=None)


if __name__ == "__main__":
    main()
