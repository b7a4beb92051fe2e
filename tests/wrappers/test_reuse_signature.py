"""reuse() shows readable defaults, and only the settings given override a wrapped Reuse's."""

from __future__ import annotations

import ast
import inspect
import pydoc
import textwrap
import time

import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import ScriptedSource
from tokensources.wrappers import Reuse, reuse

DEFAULTS = {
    "skew": "10.0",
    "max_age": "None",
    "failure_backoff": "1.0",
    "clock": "time.time",
    "on_event": "None",
    "on_token": "None",
    "learn_margin": "True",
}


def keyword_defaults(function: object) -> dict[str, object]:
    """The keyword-only defaults of ``function``, from inspect.signature."""
    parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}


def test_help_shows_each_default_as_written() -> None:
    """inspect.signature(reuse), help() and the source agree on plain defaults such as skew=10.0."""
    shown = {name: repr(default) for name, default in keyword_defaults(reuse).items()}
    assert shown == DEFAULTS
    # The class takes the same defaults, as plain values.
    assert keyword_defaults(Reuse) == {
        "skew": 10.0,
        "max_age": None,
        "failure_backoff": 1.0,
        "clock": time.time,
        "on_event": None,
        "on_token": None,
        "learn_margin": True,
    }
    rendered = pydoc.render_doc(reuse)
    assert "skew: 'float' = 10.0" in rendered
    assert "clock: 'Clock' = time.time" in rendered
    assert "Unset" not in rendered
    # The API reference reads the defaults from the source text.
    tree = ast.parse(textwrap.dedent(inspect.getsource(reuse)))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    arguments = function.args
    written = {
        argument.arg: ast.unparse(default)
        for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        if default is not None
    }
    assert written == DEFAULTS


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({"skew": 5.0}, {"skew": 10.0}),
        ({"max_age": 600.0}, {"max_age": None}),
        ({"failure_backoff": 2.0}, {"failure_backoff": 1.0}),
    ],
)
def test_a_setting_given_as_its_default_still_overrides(
    scripted: ScriptedSource, clock: FakeClock, first: dict[str, object], again: dict[str, object]
) -> None:
    """reuse(cache, skew=10.0) over a skew=5 cache builds a new cache: given means given."""
    cache = reuse(scripted, clock=clock, **first)  # type: ignore[arg-type]
    assert reuse(cache) is cache
    assert reuse(cache, **first) is cache  # type: ignore[arg-type]
    other = reuse(cache, **again)  # type: ignore[arg-type]
    assert other is not cache
    assert other.source is scripted
    assert reuse(other, **again) is other  # type: ignore[arg-type]
