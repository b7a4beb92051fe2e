"""A workload issuer: the platform that hands workloads their identity tokens.

Stands in for a Kubernetes API server (projected service-account tokens),
GitHub Actions' OIDC provider and a SPIFFE JWT issuer: it has its own
signing keys and JWKS, mints JWTs shaped like theirs, and writes token files
the way the kubelet does (an atomic ``..data`` symlink swap). The
authorization server trusts it for the grants that take a subject token.
"""

from __future__ import annotations

import math
import os
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import jwt

from .._source import Clock
from ._signing_keys import SIGNING_ALGORITHM, SigningKey, SigningKeys
from ._token_files import KubernetesTokenFile, RotatingTokenFile

__all__ = [
    "GITHUB_ISSUER",
    "KUBERNETES_ISSUER",
    "WorkloadIssuer",
]

KUBERNETES_ISSUER = "https://kubernetes.default.svc.cluster.local"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class WorkloadIssuer:
    """Mints workload identity JWTs signed by keys of its own.

    One signer stands in for the platforms: its Kubernetes-shaped tokens
    carry ``issuer``, its GitHub-shaped ones GitHub's issuer, and a server
    trusting it trusts both (``issuers``).

    Args:
        issuer: the ``iss`` of the tokens it mints.
        clock: wall-clock time for ``iat``, ``nbf`` and ``exp``.

    Attributes:
        issuers: the ``iss`` values its keys vouch for.
        keys: its signing keys (``keys.rotate()`` to rotate them).
        audiences: ``aud`` values the authorization server accepts in its
            tokens, besides the server's own URLs and the client id.
        bound_to_subject: whether tokens exchanged for its tokens expire
            no later than they do.
    """

    def __init__(self, issuer: str = KUBERNETES_ISSUER, *, clock: Clock = time.time) -> None:
        self.issuer = issuer
        self.clock = clock
        self.keys = SigningKeys()
        self.issuers = frozenset({issuer, GITHUB_ISSUER})
        self.audiences: set[str] = set()
        self.bound_to_subject = False

    def __repr__(self) -> str:
        return f"WorkloadIssuer(issuer={self.issuer!r})"

    def mint(
        self,
        subject: str,
        audience: str | Sequence[str],
        *,
        lifetime: float = 3600,
        claims: Mapping[str, Any] | None = None,
        issuer: str | None = None,
    ) -> str:
        """A JWT for ``subject``, valid for ``audience`` during ``lifetime`` seconds.

        ``claims`` are added (and may override the standard ones); ``issuer``
        overrides the ``iss`` (a token from an issuer nobody trusts).
        """
        now = self.clock()
        body: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": audience if isinstance(audience, str) else list(audience),
            "iat": math.floor(now),
            "nbf": math.floor(now),
            "exp": math.floor(now + lifetime),
            "jti": secrets.token_urlsafe(12),
        }
        body.update(claims or {})
        key: SigningKey = self.keys.current
        return jwt.encode(body, key.private, algorithm=SIGNING_ALGORITHM, headers={"kid": key.kid})

    def mint_kubernetes(
        self,
        namespace: str = "default",
        service_account: str = "workload",
        audience: str | Sequence[str] = "api://AzureADTokenExchange",
        *,
        lifetime: float = 3600,
        pod: str = "workload-0",
    ) -> str:
        """A projected service-account token, shaped like the Kubernetes API server's."""
        claims = {
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": service_account, "uid": _uid(service_account)},
                "pod": {"name": pod, "uid": _uid(pod)},
            }
        }
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        return self.mint(subject, audience, lifetime=lifetime, claims=claims)

    def mint_github(
        self,
        repository: str = "octo-org/octo-repo",
        ref: str = "refs/heads/main",
        audience: str | Sequence[str] | None = None,
        *,
        lifetime: float = 300,
    ) -> str:
        """A GitHub Actions ID token for a workflow run of ``repository`` on ``ref``.

        The default audience is the repository owner's URL, as GitHub's is.
        """
        owner = repository.split("/", 1)[0]
        claims = {
            "repository": repository,
            "repository_owner": owner,
            "ref": ref,
            "ref_type": "branch" if ref.startswith("refs/heads/") else "tag",
            "event_name": "push",
            "workflow": "ci",
            "run_id": "1",
            "sha": "0" * 40,
        }
        subject = f"repo:{repository}:ref:{ref}"
        return self.mint(
            subject,
            audience or f"https://github.com/{owner}",
            lifetime=lifetime,
            claims=claims,
            issuer=GITHUB_ISSUER,
        )

    def token_file(
        self,
        directory: str | os.PathLike[str],
        *,
        name: str = "token",
        lifetime: float = 3600,
        namespace: str = "default",
        service_account: str = "workload",
        audience: str | Sequence[str] = "api://AzureADTokenExchange",
    ) -> RotatingTokenFile:
        """A projected service-account token file under ``directory``, kept fresh.

        Writes a Kubernetes-shaped token (``mint_kubernetes``) now, and a new
        one whenever ``rotate_if_due()`` (or ``keep_rotating()``) finds the
        current one has lived 80 % of ``lifetime``, as the kubelet does.
        """
        file = KubernetesTokenFile(directory, name)

        def mint() -> str:
            return self.mint_kubernetes(namespace, service_account, audience, lifetime=lifetime)

        return RotatingTokenFile(file, mint, lifetime=lifetime, clock=self.clock)

    def jwks(self) -> dict[str, Any]:
        """The issuer's JWK Set (a fresh copy)."""
        return self.keys.jwks()


def _uid(name: str) -> str:
    """A stable UUID-shaped identifier for ``name`` (Kubernetes object uids)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubernetes:{name}"))
