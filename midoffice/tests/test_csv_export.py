"""Export CSV: every cell that a spreadsheet could run as a formula starts with a single quote
(OWASP's rule for CSV injection), whatever the storefront put in a reference or description."""

import csv
import io

import pytest

from checkout.tests.factories import make_checkout

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("stored", "exported"),
    [
        ("=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("-5.00", "'-5.00"),  # a number too: no exception to argue about
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("  =1+1", "'  =1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("order-42", "order-42"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
@pytest.mark.parametrize("column", ["reference", "description"])
def test_a_cell_that_could_start_a_formula_is_exported_as_text(client, operator, column, stored, exported):
    # given a checkout whose shop-supplied text starts like a formula
    make_checkout(**{column: stored})
    # when staff export the checkout list
    response = client.get("/admin/checkout/checkout/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    # then the cell is prefixed with a single quote, and only such a cell
    assert [row[column] for row in rows] == [exported]


def test_the_attempt_export_neutralises_its_cells_too(client, operator):
    from payments.tests.factories import make_attempt

    make_attempt(make_checkout(reference="=cmd"), failure_code="@x")
    response = client.get("/admin/payments/paymentattempt/export.csv")
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert (row["reference"], row["failure_code"]) == ("'=cmd", "'@x")
