"""The PSP adapters' `requests` session: the environment's proxies and CA bundle are read once,
when the adapter is built, never on a call (payments/psp/http_session.py)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
import responses

from payments.psp.generic import HttpPspClient
from payments.psp.http_session import pooled_session
from payments.psp.stripe import StripePsp
from payments.tests.factories import PSP, session_json

PSP_HOST = urlsplit(PSP).hostname


@pytest.fixture(autouse=True)
def _no_proxy_of_the_shell(monkeypatch):  # type: ignore[no-untyped-def]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _client() -> HttpPspClient:
    return HttpPspClient(base_url=PSP, api_key="sk_test", timeout=2, max_attempts=1, backoff=0)


def _register(client: HttpPspClient) -> None:
    client.create_session(checkout_id="c1", amount=Decimal("12.50"), currency="EUR", description="",
                          idempotency_key="bps-session-c1", context={})


def test_the_environments_proxies_and_ca_bundle_are_taken_once_at_construction(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/our-ca.pem")
    session = pooled_session("https://psp.example.com")
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert session.verify == "/etc/ssl/our-ca.pem"


def test_a_psp_host_in_no_proxy_goes_direct(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "psp.example.com")
    session = pooled_session("https://psp.example.com")
    assert session.proxies == {}
    assert session.verify is True  # certifi's bundle, as requests' default


@responses.activate
def test_a_call_reads_nothing_from_the_environment(monkeypatch, tmp_path):
    # given an adapter built, then a netrc entry for the PSP's host and environment look-ups that fail
    client = _client()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {PSP_HOST} login someone password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))

    def consulted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the environment was read on a call")

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", consulted)
    monkeypatch.setattr(requests.sessions, "get_netrc_auth", consulted)
    responses.post(f"{PSP}/v1/sessions", json=session_json(token="tok_1"), status=201)
    # when it calls the PSP
    _register(client)
    # then our bearer key went out (a netrc entry would have replaced it with Basic auth)
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk_test"


def test_the_stripe_adapter_builds_its_session_the_same_way(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    psp = StripePsp(secret_key="sk_test_x", timeout=2)
    session = psp.http._session
    assert session is not None
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.internal:3128"
