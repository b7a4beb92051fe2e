"""Claim value templates: ``"svc:${client_id}"``, ``"${form.audience}"``; pure, no I/O.

A template is any string inside a claim value (nested lists and objects
included). ``${name}`` is replaced by a variable of the token request;
``$$`` is a literal ``$``; any other ``$`` is kept as it is. The variables:

- ``${client_id}``: the authenticated client;
- ``${scope}``: the granted scopes, space-separated;
- ``${grant_type}``: the grant;
- ``${issuer}``: the issuer URL; ``${tenant}``: its name (``""`` for the root);
- ``${form.NAME}``: the form field ``NAME`` of the token request, any field
  but a credential (``client_secret``, ``client_assertion``, …), which no
  template may read.

A string that is exactly one ``${name}`` becomes that variable's value; a
claim whose template names a variable the request lacks (a form field it
did not send) is left out of the token rather than given an empty value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError

__all__ = ["CREDENTIAL_FIELDS", "VARIABLES", "check_template", "render"]

VARIABLES = frozenset({"client_id", "scope", "grant_type", "issuer", "tenant"})
# Form fields that carry a credential or a token: never readable by a template
# (a mapping would copy a secret into every token), never matched on.
CREDENTIAL_FIELDS = frozenset(
    {
        "client_secret",
        "client_assertion",
        "assertion",
        "subject_token",
        "actor_token",
        "refresh_token",
        "code",
        "code_verifier",
        "password",
        "device_code",
    }
)
_TOKEN = re.compile(r"\$\$|\$\{(?P<name>[^{}]*)\}|\$\{")
_FIELD = re.compile(r"[A-Za-z0-9_.\-]+")


class _Missing(Exception):  # noqa: N818 - a control-flow signal
    """A template named a variable this request lacks."""


def _check_name(name: str, where: str) -> None:
    if name in VARIABLES:
        return
    field = name.removeprefix("form.")
    if field != name and _FIELD.fullmatch(field):
        if field in CREDENTIAL_FIELDS:
            raise ConfigError(
                f"{where}: ${{{name}}} would copy a credential into the token; "
                "templates may not read credential fields"
            )
        return
    known = ", ".join(f"${{{v}}}" for v in sorted(VARIABLES))
    raise ConfigError(f"{where}: unknown variable ${{{name}}}; use {known} or ${{form.NAME}}")


def check_template(value: Any, where: str) -> None:
    """Check every template inside a claim value.

    Raises:
        ConfigError: naming ``where`` and the problem: an unclosed ``${``, an
            unknown variable, a credential field, or a value JSON cannot hold.
    """
    if isinstance(value, str):
        for match in _TOKEN.finditer(value):
            if match[0] == "${":
                raise ConfigError(f"{where}: '${{' is not closed by '}}' in {value!r}")
            if match["name"] is not None:
                _check_name(match["name"], where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where}: claim names must be strings, got {key!r}")
            check_template(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_template(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise ConfigError(f"{where}: a claim value must be JSON, got {type(value).__name__}")


def _lookup(name: str, variables: Mapping[str, str], form: Mapping[str, str]) -> str:
    value = form.get(name[5:]) if name.startswith("form.") else variables.get(name)
    if value is None:
        raise _Missing
    return value


def _render_value(value: Any, variables: Mapping[str, str], form: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        whole = _TOKEN.fullmatch(value)
        if whole is not None and whole["name"] is not None:
            return _lookup(whole["name"], variables, form)

        def replace(match: re.Match[str]) -> str:
            if match[0] == "$$":
                return "$"
            return _lookup(match["name"], variables, form)

        return _TOKEN.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: _render_value(item, variables, form) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render_value(item, variables, form) for item in value]
    return value


def render(
    claims: Mapping[str, Any], variables: Mapping[str, str], form: Mapping[str, str]
) -> dict[str, Any]:
    """The claims with every template filled in; a claim lacking a variable is left out.

    ``claims`` must have passed ``check_template``; ``form`` is the token
    request's form (credential fields are never read: the check refused them).
    """
    rendered: dict[str, Any] = {}
    for name, value in claims.items():
        filled = _render_claim(value, variables, form)
        if filled is not _LEFT_OUT:
            rendered[name] = filled
    return rendered


_LEFT_OUT = object()


def _render_claim(value: Any, variables: Mapping[str, str], form: Mapping[str, str]) -> Any:
    try:
        return _render_value(value, variables, form)
    except _Missing:
        return _LEFT_OUT
