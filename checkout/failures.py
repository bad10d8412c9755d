"""What a shopper reads when a payment fails: a sentence, never the PSP's code.

The code itself stays on the page, small, as a reference for support.
"""

from __future__ import annotations

FAILURE_SENTENCES = {
    "card_declined": "Your card was declined by your bank.",
    "insufficient_funds": "Your card does not have enough funds for this payment.",
    "expired_card": "Your card has expired.",
    "authentication_failed": "The payment was not approved in your bank's 3-D Secure check.",
    "processing_error": "Your bank could not process the transfer.",
    "not_received_by_psp": "The payment never reached the payment provider.",
    "session_expired": "The time to pay this order ran out.",
}
UNKNOWN_FAILURE = "The payment did not go through."


def failure_sentence(code: str | None) -> str:
    return FAILURE_SENTENCES.get(code or "", UNKNOWN_FAILURE)
