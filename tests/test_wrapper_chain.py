"""The one walk of a wrapper chain: what shared identities and fleet cooldowns look through."""

from __future__ import annotations

import pytest

from tokensources import ConfigError, Static, buffer, retry, reuse
from tokensources._chain import MAX_CHAIN, wrapper_chain
from tokensources._identity import shared_identity
from tokensources.shared._cooldown import _retries_in


class Named(Static):
    """A static source that says which token it gets, as grants do."""

    cache_identity = "named-identity"


class Loop:
    """A broken wrapper whose ``.source`` is itself."""

    @property
    def source(self) -> Loop:
        return self


def test_the_chain_runs_from_the_outer_wrapper_to_the_innermost_source() -> None:
    """Every wrapper, then the source, in order, each once."""
    inner = Named("abc")
    retried = retry(inner)
    outer = reuse(buffer(retried))
    chain = list(wrapper_chain(outer))
    assert chain[0] is outer
    assert chain[-1] is inner
    assert retried in chain
    assert len(chain) == 4


def test_a_chain_that_loops_is_cut_at_its_bound() -> None:
    """A ``.source`` that points at itself costs ``MAX_CHAIN`` steps, not a hang."""
    assert len(list(wrapper_chain(Loop()))) == MAX_CHAIN
    with pytest.raises(ConfigError, match="cache_identity"):
        shared_identity(Loop(), None)
    assert _retries_in(Loop()) == ()  # type: ignore[arg-type]


def test_identity_and_retries_are_found_through_the_same_wrappers() -> None:
    """The shared identity comes from the innermost source; each retry is found once."""
    first = retry(Named("abc"))
    second = retry(buffer(first))
    outer = reuse(second)
    assert shared_identity(outer, None) == "named-identity"
    assert _retries_in(outer) == (second, first)
