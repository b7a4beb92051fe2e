"""FileToken: a rotated token file is re-read when it changes, never served past its exp."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError, TokenRequestError, reuse
from tokensources.sources._file_token import FileToken
from tokensources.testing._token_files import KubernetesTokenFile
from tokensources.testing._workload_issuer import WorkloadIssuer

pytestmark = pytest.mark.anyio


@pytest.fixture
def issuer(clock: FakeClock) -> WorkloadIssuer:
    """A workload issuer on the fake clock."""
    return WorkloadIssuer(clock=clock)


@pytest.fixture
def volume(tmp_path: Path) -> KubernetesTokenFile:
    """A projected-volume token file, written with the kubelet's ``..data`` swap."""
    return KubernetesTokenFile(tmp_path / "tokens")


async def test_expiry_is_the_jwt_exp(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """The token is the file's JWT, expiring at its exp."""
    jwt_text = issuer.mint_kubernetes(lifetime=600)
    volume.write(jwt_text + "\n")
    token = await FileToken(volume.path, clock=clock).token()
    assert token.access_token == jwt_text
    assert token.expires_at == pytest.approx(clock.now + 600, abs=1)


async def test_unchanged_file_is_not_read_again(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """While the file is unchanged and its token valid, calls only look at it."""
    volume.write(issuer.mint_kubernetes())
    source = FileToken(volume.path, clock=clock)
    first = await source.token()
    for _ in range(50):
        assert await source.token() is first
    assert source.reads == 1


async def test_data_symlink_swap_is_seen(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """Kubernetes' atomic ``..data`` swap makes the next call read the new token."""
    volume.write(issuer.mint_kubernetes(lifetime=600))
    source = FileToken(volume.path, clock=clock)
    old = await source.token()
    clock.advance(480)  # the kubelet rotates at 80% of the lifetime
    new_text = issuer.mint_kubernetes(lifetime=600)
    volume.write(new_text)
    new = await source.token()
    assert new.access_token == new_text != old.access_token
    assert (await source.token()) is new
    assert source.reads == 2
    assert sorted(p.name for p in volume.directory.iterdir()) == ["..2", "..data", "token"]


async def test_in_place_rewrite_is_seen(tmp_path: Path, issuer: WorkloadIssuer) -> None:
    """A writer that rewrites the same file (new size or mtime) is seen too."""
    path = tmp_path / "token"
    path.write_text(issuer.mint("a", "aud"))
    source = FileToken(path, clock=issuer.clock)
    await source.token()
    second = issuer.mint("a-longer-subject", "aud")
    path.write_text(second)
    assert (await source.token()).access_token == second


async def test_never_served_past_its_exp(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """A file whose token has expired is refused (transient), then read once rotated."""
    volume.write(issuer.mint_kubernetes(lifetime=60))
    source = FileToken(volume.path, clock=clock)
    await source.token()
    clock.advance(60)
    with pytest.raises(TokenRequestError, match="expired") as info:
        await source.token()
    assert info.value.transient
    fresh = issuer.mint_kubernetes(lifetime=60)
    volume.write(fresh)
    assert (await source.token()).access_token == fresh


async def test_reuse_above_sees_the_rotation_once_the_old_token_ends(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """Under reuse(), the file is read only when the cache wants a new token."""
    volume.write(issuer.mint_kubernetes(lifetime=600))
    source = FileToken(volume.path, clock=clock)
    cached = reuse(source, clock=clock)
    first = await cached.token()
    for _ in range(100):
        await cached.token()
    assert source.reads == 1
    clock.advance(480)
    rotated = issuer.mint_kubernetes(lifetime=600)
    volume.write(rotated)
    clock.advance(120)  # the first token is over: the cache asks the file again
    assert (await cached.token()).access_token == rotated != first.access_token
    assert source.reads == 2


async def test_invalidate_forces_a_read(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """Invalidating the token read last makes the next call read the file again."""
    volume.write(issuer.mint_kubernetes())
    source = FileToken(volume.path, clock=clock)
    token = await source.token()
    source.invalidate(token.replace(access_token="other"))
    await source.token()
    assert source.reads == 1
    source.invalidate(token)
    await source.token()
    assert source.reads == 2


@pytest.mark.parametrize(
    ("contents", "match"),
    [
        (None, "does not exist"),
        ("", "empty"),
        ("\n  \n", "empty"),
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOi", "incomplete"),
        ("eyJhbGciOiJS", "incomplete"),
    ],
)
async def test_missing_empty_or_half_written_is_transient(
    tmp_path: Path, clock: FakeClock, contents: str | None, match: str
) -> None:
    """A missing, empty or half-written file is a transient TokenRequestError."""
    path = tmp_path / "token"
    if contents is not None:
        path.write_text(contents)
    with pytest.raises(TokenRequestError, match=match) as info:
        await FileToken(path, clock=clock).token()
    assert info.value.transient
    if contents and contents.strip():
        assert contents.strip() not in str(info.value)


async def test_unreadable_file_is_transient(tmp_path: Path, clock: FakeClock) -> None:
    """A path that cannot be read (a directory here) is a transient TokenRequestError."""
    with pytest.raises(TokenRequestError, match="cannot be read") as info:
        await FileToken(tmp_path, clock=clock).token()
    assert info.value.transient


@pytest.mark.parametrize(
    "contents", ["not-a-jwt-but-a-secret", '{"token": "x"}', "a b", "\u00e9t\u00e9"]
)
async def test_not_a_jwt_is_a_config_error(tmp_path: Path, clock: FakeClock, contents: str) -> None:
    """A file that is not a JWT, when one is required, is a ConfigError without its contents."""
    path = tmp_path / "token"
    path.write_text(contents, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        await FileToken(path, clock=clock).token()
    assert contents not in str(info.value)


async def test_opaque_token_allowed_without_require_jwt(tmp_path: Path, clock: FakeClock) -> None:
    """With require_jwt=False an opaque token has no expiry and is re-read on change."""
    path = tmp_path / "token"
    path.write_text("opaque-1\n")
    source = FileToken(path, require_jwt=False, clock=clock)
    token = await source.token()
    assert (token.access_token, token.expires_at) == ("opaque-1", None)
    path.write_text("opaque-22\n")
    assert (await source.token()).access_token == "opaque-22"


async def test_oversized_file_is_a_config_error(tmp_path: Path, clock: FakeClock) -> None:
    """A file far larger than a token is refused, not read into memory."""
    path = tmp_path / "token"
    path.write_bytes(b"a" * (70 * 1024))
    with pytest.raises(ConfigError, match="larger than"):
        await FileToken(path, require_jwt=False, clock=clock).token()


def test_bad_constructor_input() -> None:
    """A path that is not a path, or an empty token_type, is refused at once."""
    with pytest.raises(ConfigError):
        FileToken(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FileToken("")
    with pytest.raises(ConfigError):
        FileToken("/tmp/token", token_type=" ")  # noqa: S108 - never opened


def test_repr_names_the_path_only(tmp_path: Path) -> None:
    """The repr shows the path, never contents."""
    assert (
        repr(FileToken(tmp_path / "t"))
        == f"FileToken(path={os.fspath(tmp_path / 't')!r}, require_jwt=True)"
    )


async def test_concurrent_callers_share_one_read(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile, clock: FakeClock
) -> None:
    """100 tasks finding the file changed at once read it once, and all get the new token."""
    volume.write(issuer.mint_kubernetes())
    source = FileToken(volume.path, clock=clock)
    await source.token()
    rotated = issuer.mint_kubernetes()
    volume.write(rotated)
    seen: list[str] = []

    async def call() -> None:
        seen.append((await source.token()).access_token)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(call)
    assert seen == [rotated] * 100
    assert source.reads == 2


def test_subject_claims_name_the_workload(
    issuer: WorkloadIssuer, volume: KubernetesTokenFile
) -> None:
    """subject_claims gives the JWT's iss and sub, never the token."""
    jwt_text = issuer.mint_kubernetes()
    volume.write(jwt_text)
    claims = FileToken(volume.path, clock=issuer.clock).subject_claims()
    assert claims == {"iss": issuer.issuer, "sub": "system:serviceaccount:default:workload"}
    assert jwt_text not in repr(claims)


def test_subject_claims_of_a_missing_or_opaque_file(tmp_path: Path) -> None:
    """A file that cannot name its subject is a ConfigError (pass key= to the shared cache)."""
    with pytest.raises(ConfigError, match="cannot name its subject"):
        FileToken(tmp_path / "missing").subject_claims()
    (tmp_path / "opaque").write_text("opaque")
    with pytest.raises(ConfigError, match="key="):
        FileToken(tmp_path / "opaque", require_jwt=False).subject_claims()
