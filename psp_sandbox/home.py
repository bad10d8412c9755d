"""The home page, `GET /`: what the sandbox is and what it holds, for a browser.

Read-only and keyless like the 3-D Secure page, so it shows nothing secret:
never the API key or the webhook secret. Every value that came from a
request (descriptions, refund reasons, fault paths, the Host header) is
HTML-escaped, and the page needs no asset from anywhere.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .clock import rfc3339
from .config import Config
from .delivery import RETRY_SCHEDULE
from .money import format_amount

RECENT = 20

# Nothing but inline styles; no script, no frame, no form.
HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;padding:1.5rem;background:#f4f5f7;color:#1d2330}
main{max-width:64rem;margin:0 auto}section{background:#fff;border-radius:12px;padding:1rem 1.25rem;
margin:0 0 1rem;box-shadow:0 1px 4px rgba(0,0,0,.12);overflow-x:auto}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin:1rem 0 .5rem}h2:first-child{margin-top:0}
.muted{color:#5b6475;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #e5e7eb;vertical-align:top}td:nth-child(3),td:last-child{white-space:nowrap}
code{font-size:.85rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}dt{font-weight:600}dd{margin:0}
.succeeded{color:#1a7f37}.failed{color:#b42318}.pending,.requires_action{color:#9a6700}
"""


@dataclass(frozen=True)
class Overview:
    """Everything the page shows, read in one snapshot."""

    payments: Sequence[sqlite3.Row]  # newest first, with the session's description
    refunds: Sequence[sqlite3.Row]  # newest first
    payment_count: int
    refund_count: int
    queued_deliveries: int


def load_overview(conn: sqlite3.Connection) -> Overview:
    payments = conn.execute(
        "SELECT p.*, s.description FROM payments AS p JOIN sessions AS s ON s.token = p.token"
        " ORDER BY p.seq DESC LIMIT ?",
        (RECENT,),
    ).fetchall()
    refunds = conn.execute("SELECT * FROM refunds ORDER BY seq DESC LIMIT ?", (RECENT,)).fetchall()
    (payment_count,) = conn.execute("SELECT COUNT(*) FROM payments").fetchone()
    (refund_count,) = conn.execute("SELECT COUNT(*) FROM refunds").fetchone()
    (queued,) = conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
    return Overview(payments, refunds, payment_count, refund_count, queued)


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g} ms"
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(heading)}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(status: str) -> str:
    return f'<span class="{_e(status)}">{_e(status)}</span>'


def _payment_row(row: sqlite3.Row) -> list[str]:
    status = _status(row["status"])
    if row["status"] == "requires_action":
        status += f' <a href="/sandbox/3ds/{_e(row["id"])}">3-D Secure page</a>'
    elif row["status"] == "failed":
        status += f' <span class="muted">{_e(row["failure_code"])}</span>'
    amount = f"{_e(format_amount(row['amount_minor'], row['currency']))} {_e(row['currency'])}"
    if row["refunded_minor"]:
        amount += f'<br><span class="muted">refunded {_e(format_amount(row["refunded_minor"], row["currency"]))}</span>'
    order = f"<code>{_e(row['checkout_id'])}</code>"
    if row["description"]:
        order += f"<br>{_e(row['description'])}"
    return [
        f"<code>{_e(row['id'])}</code>",
        status,
        amount,
        f"<code>{_e(row['payment_method'])}</code>",
        order,
        _e(rfc3339(row["created_at"])),
    ]


def _refund_row(row: sqlite3.Row) -> list[str]:
    return [
        f"<code>{_e(row['id'])}</code>",
        f"<code>{_e(row['payment_id'])}</code>",
        _status(row["status"]),
        f"{_e(format_amount(row['amount_minor'], row['currency']))} {_e(row['currency'])}",
        _e(row["reason"]),
        _e(rfc3339(row["created_at"])),
    ]


def _faults_section(faults: dict[str, object]) -> str:
    armed = faults["faults"]
    assert isinstance(armed, list)
    rows = [[f"<code>{_e(f['path'])}</code>", f"<code>{_e(f['fault'])}</code>", _e(f["times"])] for f in armed]
    knobs = faults["webhooks"]
    assert isinstance(knobs, dict)
    return (
        "<section><h2>Armed faults</h2>"
        + _table(["path", "fault", "times left"], rows, "No fault armed.")
        + "<h2>Webhook knobs</h2><dl>"
        f"<dt>duplicate</dt><dd>{_e(knobs['duplicate'])}</dd>"
        f"<dt>drop</dt><dd>{_e(knobs['drop'])}</dd>"
        f"<dt>reorder</dt><dd>{_e(str(knobs['reorder']).lower())}</dd>"
        "</dl>"
        '<p class="muted">Armed and set with <code>POST /sandbox/faults</code>, cleared with '
        "<code>DELETE /sandbox/faults</code> (bearer key needed). A restart clears them too.</p></section>"
    )


def home_page(*, base_url: str, config: Config, overview: Overview, faults: dict[str, object]) -> bytes:
    scale = config.time_scale
    settle_real = config.settle_delay * scale
    retries = ", ".join(_duration(delay * scale) for delay in RETRY_SCHEDULE)
    about = (
        "<section><h2>What this is</h2>"
        "<p>A sandbox payment service provider for demos and tests. It implements the PSP protocol "
        "that paysite's payment backend speaks, described in <code>docs/psp-protocol.md</code> of the "
        "paysite repository (its options: <code>psp_sandbox/README.md</code>). No real money moves.</p>"
        "<dl>"
        f"<dt>Base URL</dt><dd><code>{_e(base_url)}</code> (the BPS's <code>PSP_BASE_URL</code>)</dd>"
        "<dt>API</dt><dd><code>/v1/</code>, with the bearer key the sandbox was started with "
        "(<code>--api-key</code>; not shown here)</dd>"
        f"<dt>Settle delay</dt><dd>{_e(f'{config.settle_delay:g}')} PSP s &times; time scale "
        f"{_e(f'{scale:g}')} = {_e(_duration(settle_real))} real</dd>"
        f"<dt>Webhook retries</dt><dd>{_e(retries)} after the attempt before (real time)</dd>"
        f"<dt>Session lifetime</dt><dd>{_e(_duration(config.session_ttl))} (real time, not scaled)</dd>"
        f"<dt>Storage</dt><dd><code>{_e(config.storage)}</code></dd>"
        "</dl></section>"
    )
    payments = (
        f"<section><h2>Latest payments</h2><p class=\"muted\">The newest {len(overview.payments)} of "
        f"{overview.payment_count}; {overview.queued_deliveries} webhook deliveries queued.</p>"
        + _table(
            ["id", "status", "amount", "method", "checkout", "created"],
            [_payment_row(row) for row in overview.payments],
            "No payment yet.",
        )
        + "</section>"
    )
    refunds = (
        f"<section><h2>Latest refunds</h2><p class=\"muted\">The newest {len(overview.refunds)} of "
        f"{overview.refund_count}.</p>"
        + _table(
            ["id", "payment", "status", "amount", "reason", "created"],
            [_refund_row(row) for row in overview.refunds],
            "No refund yet.",
        )
        + "</section>"
    )
    links = (
        "<section><h2>Docs and endpoints</h2><ul>"
        "<li>The protocol: <code>docs/psp-protocol.md</code> in the paysite repository</li>"
        "<li>The sandbox's options, test payment methods and faults: <code>psp_sandbox/README.md</code></li>"
        '<li><a href="/sandbox/health">/sandbox/health</a>: readiness check</li>'
        '<li><a href="/sandbox/faults">/sandbox/faults</a>: armed faults as JSON (bearer key needed)</li>'
        "</ul></section>"
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Sandbox PSP</title><style>{_STYLE}</style></head><body><main>"
        '<h1>Sandbox PSP</h1><p class="muted">Read-only overview; reload to refresh.</p>'
        f"{about}{payments}{refunds}{_faults_section(faults)}{links}</main></body></html>"
    )
    return html.encode()
