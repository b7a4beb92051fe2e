"""One token request, as every grant sends it: the form, the client's credentials, one judgement.

RFC 6749 §3.2: a POST of an ``application/x-www-form-urlencoded`` form to
the token endpoint, answered with JSON. The grant supplies the form, the
client authentication its credentials (form fields, headers and the secrets
to mask); the answer is judged once (``judge_token_response``), so that a
client authentication can look at it before anyone raises it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._http import HttpClient
from .._wire import TokenAnswer, judge_token_response
from ._client_auth import Credentials

__all__ = ["request_token"]


async def request_token(
    http: HttpClient, token_url: str, form: Mapping[str, str], credentials: Credentials
) -> TokenAnswer:
    """POST ``form`` with ``credentials`` to ``token_url``; the answer, judged once.

    Concurrency and cancellation: one request; safe for concurrent use.
    Cancelling abandons it.

    Raises:
        TokenRequestError: the request could not be completed.
    """
    headers = {"Accept": "application/json", **credentials.headers}
    raw = await http.request("POST", token_url, data={**form, **credentials.form}, headers=headers)
    return judge_token_response(raw, secrets=credentials.secrets)
