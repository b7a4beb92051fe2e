"""CertificateRoutes: which certificate version a request goes over, and when a version is let go.

The routing does no I/O (the transports over it are tested over real TLS in
test_mutual_tls_transport.py), so these tests are synchronous: real
certificates on disk, a fake clock, and inner "transports" that are plain
records of the version they were made for.
"""

from __future__ import annotations

import datetime
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import trustme

from tests.support.clock import FakeClock
from tests.support.mtls import Pair, issued
from tokensources import ConfigError
from tokensources.sources._certificate_routes import CertificateRoutes, Generation
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
        """The versions handed out to be closed now (each once)."""
        closing = []
        while (generation := self.routes.next_to_close()) is not None:
            closing.append(generation.transport.thumbprint)
        return closing


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
    """close_all() hands out held and in-flight versions alike; later requests raise."""
    world = World(tmp_path, clock, issued(ca))
    first = world.certificate.current().thumbprint
    world.routes.take(authorization(first))  # never given back
    second = world.renewed(issued(ca))
    third = world.renewed(issued(ca))
    world.send(None)
    world.routes.close_all()
    assert set(world.closing()) == {first, second, third}
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


def test_a_renewal_learnt_elsewhere_is_found_through_the_token(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """A token bound to a certificate no generation has makes the files be looked at.

    Another source on the same files (sharing the token cache) saw the
    renewal; this routing's certificate did not, until the token named it.
    """
    world = World(tmp_path, clock, issued(ca))
    old = world.certificate.current().thumbprint
    elsewhere = ClientCertificate(
        world.certificate_path, world.key_path, key_password=None, ca=None, clock=clock
    )
    world.renew(issued(ca))
    new = elsewhere.current().thumbprint
    assert world.send(old) == old
    assert world.send(new) == new
    assert world.send(old) == old  # tokens bound to the old one still meet it
    assert world.closing() == []


def test_files_caught_mid_renewal_do_not_fail_a_request_for_an_unknown_binding(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """The held certificate is valid: a half-written renewal is not the request's failure."""
    world = World(tmp_path, clock, issued(ca))
    old = world.certificate.current().thumbprint
    world.certificate_path.write_bytes(issued(ca).certificate)  # its key not written yet
    assert world.send("bound-to-a-certificate-not-held") == old


def test_a_new_ca_bundle_under_the_same_leaf_is_a_new_generation(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """The leaf stays, the ``ca`` changes: a new context, and the old generation is closed."""
    world = World(tmp_path, clock, issued(ca))
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca.cert_pem.bytes())
    certificate = ClientCertificate(
        world.certificate_path, world.key_path, key_password=None, ca=bundle, clock=clock
    )
    routes = CertificateRoutes(certificate, make, clock)
    before = routes.take(None)
    routes.give_back(before)
    bundle.write_bytes(ca.cert_pem.bytes() + trustme.CA().cert_pem.bytes())
    current = certificate.current()
    after = routes.take(None)
    routes.give_back(after)
    assert after.certificate is current
    assert after is not before
    assert after.certificate.thumbprint == before.certificate.thumbprint
    assert certificate.recent == (current,)  # not a renewal: nothing to keep for old tokens
    assert routes.next_to_close() is before


def test_identical_rewrites_keep_the_version(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """The same bytes written again: the same LoadedCertificate, no new load, no new pool."""
    pair = issued(ca)
    world = World(tmp_path, clock, pair)
    held = world.certificate.current()
    loads = world.certificate.loads
    for _ in range(3):
        world.renew(pair)
        assert world.certificate.current() is held
    assert world.certificate.loads == loads
    assert world.send(None) == held.thumbprint
    assert world.closing() == []


def test_half_written_or_absent_files_keep_the_held_version_and_warn_once(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    """A certificate written before its key, or a file briefly gone: the valid version serves."""
    world = World(tmp_path, clock, valid_for(ca, clock, HOUR))
    held = world.certificate.current()
    fresh = issued(ca)
    world.certificate_path.write_bytes(fresh.certificate)  # step one of a sequential write
    with caplog.at_level("WARNING", logger="tokensources"):
        assert world.certificate.current() is held
        assert world.certificate.current() is held
    assert len(caplog.records) == 1
    assert "private_key is not the key of certificate" in caplog.records[0].getMessage()
    world.key_path.write_bytes(fresh.key)  # step two: the renewal is whole
    renewed = world.certificate.current()
    assert renewed.thumbprint != held.thumbprint
    world.certificate_path.unlink()
    assert world.certificate.current() is renewed
    world.renew(fresh)
    assert world.certificate.current() is renewed


def test_broken_files_raise_once_nothing_valid_is_held(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """The held version expired and the files are broken: the ConfigError of the files."""
    world = World(tmp_path, clock, valid_for(ca, clock, HOUR))
    world.certificate_path.write_bytes(b"not a certificate")
    clock.advance(HOUR)
    with pytest.raises(ConfigError, match="not a readable PEM certificate"):
        world.certificate.current()
    with pytest.raises(ConfigError, match="not a readable PEM certificate"):
        ClientCertificate(
            world.certificate_path, world.key_path, key_password=None, ca=None, clock=clock
        )


def test_an_expired_older_generation_is_let_go_under_steady_traffic(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """One token in use, no new one: the old certificate's pool is closed when it expires."""
    world = World(tmp_path, clock, valid_for(ca, clock, 600))
    old = world.certificate.current().thumbprint
    new = world.renewed(issued(ca))
    value = authorization(new)
    for _ in range(20):
        world.routes.give_back(world.routes.take(value))
        clock.advance(60)
    assert world.closing() == [old]


class CountingRoutes(CertificateRoutes[Inner]):
    """Counts the decisions made afresh (claims read, certificate followed)."""

    reroutes = 0

    def _reroute(self, authorization: str | None) -> Generation[Inner]:
        self.reroutes += 1
        return super()._reroute(authorization)


def test_tokens_in_use_together_are_each_decided_once(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """Old and new tokens interleaved after a renewal: one decision per token, not per request."""
    world = World(tmp_path, clock, issued(ca))
    old = world.certificate.current().thumbprint
    new = world.renewed(issued(ca))
    routes = CountingRoutes(world.certificate, make, clock)
    values = [authorization(old), authorization(new), authorization(None)]
    for _ in range(50):
        for value in values:
            routes.give_back(routes.take(value))
    assert routes.reroutes == len(values)
    world.renewed(issued(ca))
    routes.give_back(routes.take(values[0]))
    assert routes.reroutes == len(values) + 1  # a new version: decisions are made again


def test_threads_renewing_and_routing_never_lose_a_generation(
    tmp_path: Path, clock: FakeClock, ca: trustme.CA
) -> None:
    """Renewals on one thread, requests on three: every inner transport made is closed once."""
    pairs = [issued(ca) for _ in range(4)]
    world = World(tmp_path, clock, pairs[0])
    made: list[Inner] = []

    def recorded(loaded: LoadedCertificate) -> Inner:
        made.append(Inner(loaded.thumbprint))
        return made[-1]

    routes = CertificateRoutes(world.certificate, recorded, clock)
    closed: list[Inner] = []
    value = [authorization(None)]
    done = threading.Event()

    def renewals() -> None:
        try:
            for round_ in range(40):
                world.renew(pairs[round_ % len(pairs)])
                value[0] = authorization(world.certificate.current().thumbprint)
        finally:
            done.set()

    def requests() -> None:
        for _ in range(100_000):  # bounded; ends when the renewals do
            if done.is_set():
                return
            routes.give_back(routes.take(value[0]))
            while (generation := routes.next_to_close()) is not None:
                closed.append(generation.transport)

    threads = [threading.Thread(target=renewals)] + [
        threading.Thread(target=requests) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    routes.close_all()
    while (generation := routes.next_to_close()) is not None:
        closed.append(generation.transport)
    assert sorted(map(id, closed)) == sorted(map(id, made))
