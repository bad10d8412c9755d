"""CSV cells that a spreadsheet shows as text and never runs as a formula (OWASP CSV injection).

A cell whose first character is `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed
(or their full-width forms, which some spreadsheets read the same way), also after leading
spaces, is prefixed with a single quote. Every such cell is, numbers included: our exports
hold no negative numbers, and a rule without exceptions cannot be talked around.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: object) -> str:
    """The text of one cell: "" for None, and a leading "'" when it could start a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS) or text.lstrip(" ").startswith(FORMULA_TRIGGERS):
        return f"'{text}"
    return text
