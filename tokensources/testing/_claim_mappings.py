"""Claim mappings: extra claims for the tokens of some clients, scopes or form fields.

A mapping is a set of claims (with templates, see ``_claim_templates``) and
the conditions a token request must meet for them to be added: a client id,
a scope among those granted, form fields with given values. Every mapping
whose conditions hold is applied, in the order they were added, so a later
one overrides an earlier one; mapped claims override the standard ones
(``sub``, ``aud``, even ``exp``), which is how a test gets the token shape
of another provider, or a token its verifier must refuse.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError
from ._claim_templates import CREDENTIAL_FIELDS, check_template, render

__all__ = ["ClaimMapping", "ClaimMappings", "MappingContext", "checked_mapping"]


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What a token request was, as mappings see it.

    Attributes:
        client_id: the authenticated client.
        scopes: the granted scopes.
        grant_type: the grant.
        issuer: the issuer URL.
        tenant: the issuer's name (``""`` for the root).
        form: the request's form fields.
    """

    client_id: str
    scopes: Sequence[str]
    grant_type: str
    issuer: str
    tenant: str
    form: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Claims to add when every given condition holds (no condition: every token).

    Attributes:
        claims: the claims, with templates.
        client_id: only for this client.
        scope: only when this scope is granted.
        form: only when each of these form fields has this value.
    """

    claims: Mapping[str, Any]
    client_id: str | None = None
    scope: str | None = None
    form: Mapping[str, str] | None = None

    def applies(self, context: MappingContext) -> bool:
        """Whether ``context`` meets every condition."""
        if self.client_id is not None and context.client_id != self.client_id:
            return False
        if self.scope is not None and self.scope not in context.scopes:
            return False
        wanted = self.form or {}
        return all(context.form.get(name) == value for name, value in wanted.items())


def checked_mapping(
    claims: Mapping[str, Any],
    *,
    client_id: str | None = None,
    scope: str | None = None,
    form: Mapping[str, str] | None = None,
    where: str = "claims",
) -> ClaimMapping:
    """A ``ClaimMapping`` whose claims and conditions are known to be usable.

    Raises:
        ConfigError: naming ``where``: claims that are not a mapping of JSON
            values, a bad template, a condition that is not a string, or a
            condition on a credential field.
    """
    if not isinstance(claims, Mapping) or not claims:
        raise ConfigError(f"{where}: the claims must be a non-empty mapping of claim names")
    check_template(claims, where)
    for name, value in (("client_id", client_id), ("scope", scope)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}: the {name} condition must be a non-empty string")
    if form is not None:
        if not isinstance(form, Mapping):
            raise ConfigError(f"{where}: the form condition must map field names to values")
        for name, value in form.items():
            if name in CREDENTIAL_FIELDS:
                raise ConfigError(f"{where}: a mapping may not match on the credential {name!r}")
            if not isinstance(name, str) or not isinstance(value, str):
                raise ConfigError(f"{where}: form condition {name!r} must be a string")
    return ClaimMapping(copy.deepcopy(dict(claims)), client_id, scope, dict(form or {}) or None)


class ClaimMappings:
    """The claim mappings of one issuer, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mappings: tuple[ClaimMapping, ...] = ()

    def __len__(self) -> int:
        return len(self._mappings)

    def add(self, mapping: ClaimMapping) -> None:
        """Add ``mapping`` after the others (it overrides them where both apply)."""
        with self._lock:
            self._mappings = (*self._mappings, mapping)

    def clear(self) -> None:
        """Remove every mapping."""
        with self._lock:
            self._mappings = ()

    def claims_for(self, context: MappingContext) -> dict[str, Any]:
        """The extra claims for a token request: every applying mapping, rendered, merged."""
        mappings = self._mappings
        if not mappings:  # the hot path: nothing mapped
            return {}
        variables = {
            "client_id": context.client_id,
            "scope": " ".join(context.scopes),
            "grant_type": context.grant_type,
            "issuer": context.issuer,
            "tenant": context.tenant,
        }
        claims: dict[str, Any] = {}
        for mapping in mappings:
            if mapping.applies(context):
                claims |= render(mapping.claims, variables, context.form)
        return claims
