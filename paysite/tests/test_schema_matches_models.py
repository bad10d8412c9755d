"""The database the migrations build has every index and constraint the models declare.

A migration can drop more than it says: an early version of payments 0012 changed `db_index` on
two columns with AlterField, and Django then dropped every single-column index on them that it
did not know of, the partial unique indexes that forbid a second charge among them, while the
migration state still listed them (an outside review found it). This test reads the database."""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

OUR_APPS = ("checkout", "payments", "webhooks", "midoffice")


def _declared():
    for config in apps.get_app_configs():
        if config.label not in OUR_APPS:
            continue
        for model in config.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            names = [index.name for index in model._meta.indexes]
            names += [constraint.name for constraint in model._meta.constraints]
            yield model._meta.db_table, names


def test_every_declared_index_and_constraint_is_in_the_database():
    missing = {}
    with connection.cursor() as cursor:
        for table, names in _declared():
            present = connection.introspection.get_constraints(cursor, table)
            lost = [name for name in names if name not in present]
            if lost:
                missing[table] = lost
    assert missing == {}


def test_the_guards_against_a_second_charge_are_unique_in_the_database():
    with connection.cursor() as cursor:
        present = connection.introspection.get_constraints(cursor, "payments_paymentattempt")
    for name in ("one_live_attempt_per_checkout_v2", "one_paid_attempt_per_psp_payment"):
        assert present[name]["unique"], name
