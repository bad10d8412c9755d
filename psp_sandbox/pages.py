"""The 3-D Secure page a shopper's browser is sent to (`next_action.url`).

Plain server-rendered HTML that reads well on a phone and needs no
JavaScript: two forms, Approve and Decline, each POSTing back here.
"""

from __future__ import annotations

import sqlite3
from html import escape
from urllib.parse import urlencode, urlsplit, urlunsplit

from .money import format_amount

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;padding:1.5rem;background:#f4f5f7;color:#1d2330}
main{max-width:26rem;margin:0 auto;background:#fff;border-radius:12px;padding:1.5rem;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin-top:0}.amount{font-size:2rem;font-weight:700;margin:.5rem 0 1rem}
.muted{color:#5b6475;font-size:.9rem}form{margin:.75rem 0}
button{width:100%;font-size:1.1rem;padding:.9rem;border:0;border-radius:8px;cursor:pointer}
.approve{background:#1a7f37;color:#fff}.decline{background:#e5e7eb;color:#1d2330}
"""


def three_ds_page(payment: sqlite3.Row) -> bytes:
    amount = format_amount(payment["amount_minor"], payment["currency"])
    base = f"/sandbox/3ds/{escape(payment['id'])}"
    if payment["status"] == "requires_action":
        actions = (
            f'<form method="post" action="{base}/approve">'
            '<button class="approve" type="submit" name="action" value="approve">Approve</button>'
            "</form>"
            f'<form method="post" action="{base}/decline">'
            '<button class="decline" type="submit" name="action" value="decline">Decline</button>'
            "</form>"
        )
    else:
        actions = (
            f"<p>This payment is <strong>{escape(payment['status'])}</strong> already.</p>"
            f'<form method="post" action="{base}/approve">'
            '<button class="decline" type="submit">Back to the shop</button></form>'
        )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>3-D Secure check</title><style>{_STYLE}</style></head><body><main>"
        "<h1>Confirm your payment</h1>"
        '<p class="muted">Sandbox PSP: 3-D Secure test page</p>'
        f'<div class="amount">{escape(amount)} {escape(payment["currency"])}</div>'
        f'<p class="muted">Order {escape(payment["checkout_id"])}</p>'
        f"{actions}</main></body></html>"
    )
    return html.encode()


def return_url(redirect_url: str, *, token: str, payment_id: str) -> str:
    """`redirect_url` with `token` and `payment_id` added to the query it has."""
    parts = urlsplit(redirect_url)
    # The existing query is kept byte for byte, not re-encoded.
    added = urlencode([("token", token), ("payment_id", payment_id)])
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))
