"""CertificateRoutes: which certificate version a request goes over, and when a version is let go.

The routing does no I/O (the transports over it are tested over real TLS in
test_mutual_tls_transport.py), so these tests are synchronous: real
certificates on disk, a fake clock, and inner "transports" that are plain
records of the version they were made for.
"""

from __future__ import annotations

import datetime
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import trustme

from tests.support.clock import FakeClock
from tests.support.mtls import Pair, issued
from tokensources import ConfigError
from tokensources.sources._certificate_routes import CertificateRoutes
from tokensources.sources._certificates import ClientCertificate, LoadedCertificate

HOUR = 3600.0


@dataclass(frozen=True)
class Inner:
    """Stands for an inner transport: the certificate version it presents."""

    thumbprint: str


def make(loaded: LoadedCertificate) -> Inner:
    return Inner(loaded.thumbprint)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA of the client certificates."""
    return trustme.CA()


class World:
    """Certificate files renewed in place, the certificate following them, and its routes."""

    def __init__(self, directory: Path, clock: FakeClock, first: Pair) -> None:
        self.certificate_path, self.key_path = directory / "tls.crt", directory / "tls.key"
        self.renew(first)
        self.certificate = ClientCertificate(
            self.certificate_path, self.key_path, key_password=None, ca=None, clock=clock
        )
        self.routes = CertificateRoutes(self.certificate, make, clock)

    def renew(self, pair: Pair) -> None:
        for path, data in ((self.key_path, pair.key), (self.certificate_path, pair.certificate)):
            path.with_suffix(".new").write_bytes(data)
            os.replace(path.with_suffix(".new"), path)

    def renewed(self, pair: Pair) -> str:
        """Renew and let a token request see it; the new certificate's thumbprint."""
        self.renew(pair)
        return self.certificate.current().thumbprint

    def send(self, thumbprint: str | None) -> str:
        """Route a request whose token is bound to ``thumbprint``; where it went. Done at once."""
        generation = self.routes.take(authorization(thumbprint))
        self.routes.give_back(generation)
        return generation.certificate.thumbprint

    def closing(self) -> list[str]:
        return [each.transport.thumbprint for each in self.routes.drain()]


def authorization(thumbprint: str | None) -> str:
    """A new ``Bearer`` value for a token bound to ``thumbprint`` (None: unbound)."""
    claims: dict[str, object] = {"sub": "billing", "jti": uuid.uuid4().hex}
    if thumbprint is not None:
        claims["cnf"] = {"x5t#S256": thumbprint}
    return "Bearer " + jwt.encode(claims, "k" * 32, algorithm="HS256")


def valid_for(ca: trustme.CA, clock: FakeClock, seconds: float) -> Pair:
    start = datetime.datetime.fromtimestamp(clock.now - HOUR, datetime.timezone.utc)
    end = datetime.datetime.fromtimestamp(clock.now + seconds, datetime.timezone.utc)
    return issued(ca, not_before=start, not_after=end)


def test_tokens_go_over_their_certificate_and_unbound_ones_over_the_newest(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """After a renewal both versions are held; unknown bindings and unbound tokens go newest."""
    world = World(tmp_path, clock, issued(ca))
    old = world.certificate.current().thumbprint
    new = world.renewed(issued(ca))
    assert [world.send(each) for each in (old, new, None, "not-held")] == [old, new, new, new]
    assert world.closing() == []


def test_at_most_two_versions_the_oldest_closed_on_the_next_renewal(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """Two renewals: the first version is let go and closed; its tokens go over the newest."""
    world = World(tmp_path, clock, issued(ca))
    first = world.certificate.current().thumbprint
    assert world.send(first) == first
    second = world.renewed(issued(ca))
    third = world.renewed(issued(ca))
    assert [world.send(each) for each in (first, second, third)] == [third, second, third]
    assert world.closing() == [first]
    assert world.closing() == []  # handed out once


def test_a_version_let_go_closes_after_its_last_request(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """A request in flight over the oldest version keeps its transport open until it is done."""
    world = World(tmp_path, clock, issued(ca))
    first = world.certificate.current().thumbprint
    in_flight = world.routes.take(authorization(first))
    world.renewed(issued(ca))
    third = world.renewed(issued(ca))
    assert world.send(None) == third
    assert world.closing() == []  # still answering
    world.routes.give_back(in_flight)
    assert world.closing() == [first]


def test_an_expired_previous_version_is_let_go(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """Once the old certificate expires, its version is closed and its tokens go newest."""
    world = World(tmp_path, clock, valid_for(ca, clock, HOUR))
    old = world.certificate.current().thumbprint
    new = world.renewed(issued(ca))
    assert world.send(old) == old
    clock.advance(HOUR)
    assert world.send(old) == new  # the same token too: its certificate's validity ended
    assert world.closing() == [old]


def test_when_the_newest_expires_the_files_are_looked_at(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """No token request saw the renewal: the newest expiring makes the routes read the files."""
    world = World(tmp_path, clock, valid_for(ca, clock, HOUR))
    value = authorization(None)
    old = world.routes.take(value)
    world.routes.give_back(old)
    world.renew(issued(ca))  # nobody called current()
    clock.advance(HOUR)
    new = world.routes.take(value)
    assert new.certificate.thumbprint == world.certificate.current().thumbprint
    assert new.certificate.thumbprint != old.certificate.thumbprint


def test_an_expired_certificate_that_was_not_renewed_is_a_config_error(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """Nothing valid to present: a ConfigError that says the certificate expired."""
    world = World(tmp_path, clock, valid_for(ca, clock, HOUR))
    clock.advance(HOUR)
    with pytest.raises(ConfigError, match="expired"):
        world.routes.take(authorization(None))


def test_closing_hands_out_every_version_and_refuses_requests(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """close_all() returns held and in-flight versions alike; later requests raise."""
    world = World(tmp_path, clock, issued(ca))
    first = world.certificate.current().thumbprint
    world.routes.take(authorization(first))  # never given back
    second = world.renewed(issued(ca))
    third = world.renewed(issued(ca))
    world.send(None)
    closed = {each.transport.thumbprint for each in world.routes.close_all()}
    assert closed == {first, second, third}
    with pytest.raises(RuntimeError, match="closed"):
        world.routes.take(None)


def test_a_renewal_is_followed_by_the_very_next_request(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """The same unbound token moves to the renewed certificate; the same old-bound one stays."""
    world = World(tmp_path, clock, issued(ca))
    old = world.certificate.current().thumbprint
    unbound, bound_to_old = authorization(None), authorization(old)
    routes = world.routes

    def send(value: str) -> str:
        generation = routes.take(value)
        routes.give_back(generation)
        return generation.certificate.thumbprint

    assert (send(bound_to_old), send(unbound), send(unbound)) == (old, old, old)
    new = world.renewed(issued(ca))
    assert send(unbound) == new  # the value routed last: a renewal ends its decision
    assert (send(bound_to_old), send(bound_to_old)) == (old, old)
