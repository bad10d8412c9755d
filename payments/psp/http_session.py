"""The pooled `requests` session of a PSP adapter, configured once from the environment.

By default `requests` consults the environment on every call (`Session.trust_env`): it scans
`os.environ` for proxies and decides whether the host bypasses them, reads `REQUESTS_CA_BUNDLE`
/ `CURL_CA_BUNDLE`, and looks for `~/.netrc` (about 0.3 ms of work per PSP call, for an answer
that never changes while the process lives). Here the same settings are resolved once, for the
PSP's own address, when the adapter is built (at a process's first PSP call), and the session
stops trusting the environment:

- proxies: `HTTP_PROXY` / `HTTPS_PROXY` / `ALL_PROXY` and `NO_PROXY` (either case), as requests
  would read them for the PSP's host;
- the CA bundle: `REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`, else certifi's (an adapter that
  passes its own bundle per call, as Stripe's SDK does, keeps it: requests ignores these then too);
- `~/.netrc` is not read: a matching entry would have replaced our bearer key with Basic auth.

A change of these variables is seen by processes started after it, as with every other setting.
"""

from __future__ import annotations

import os

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies


def pooled_session(base_url: str) -> requests.Session:
    """A session for calls to `base_url`, its connections pooled (up to 64 per host)."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = dict(get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
