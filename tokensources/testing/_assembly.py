"""How one issuer's parts are wired together: which part receives which.

This is the one place that knows every part. Each part is built with what
it uses and nothing else; ``AuthorizationServer`` holds the result and
routes requests to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._access_tokens import AccessTokens
from ._answers import QueuedAnswers
from ._api import DemoApi
from ._assertion_auth import LEEWAY, PrivateKeyJWT
from ._claim_mappings import ClaimMappings
from ._client_auth import ClientAuthenticator
from ._client_credentials import ClientCredentialsGrant
from ._clients import ClientRegistry
from ._counters import Counters
from ._faults import Faults
from ._grants import Grant
from ._issuer import Issuer
from ._jwks_endpoint import JwksEndpoint
from ._metadata import MetadataEndpoint
from ._paths import API_PREFIX, JWKS_PATH, METADATA_PATHS, TOKEN_PATH
from ._quotas import Quotas
from ._replay import ReplayCache
from ._routes import Endpoint, Router
from ._secret_auth import ClientSecretBasic, ClientSecretPost
from ._signing_keys import SigningKeys
from ._token_endpoint import TokenEndpoint

__all__ = ["IssuerParts", "assemble"]


@dataclass(frozen=True, slots=True)
class IssuerParts:
    """One issuer, wired: its settings, keys, clients, tokens, mappings, quotas and router."""

    issuer: Issuer
    keys: SigningKeys
    clients: ClientRegistry
    tokens: AccessTokens
    mappings: ClaimMappings
    quotas: Quotas
    metadata: MetadataEndpoint
    router: Router


def assemble(
    issuer: Issuer, *, counters: Counters, faults: Faults, answers: QueuedAnswers
) -> IssuerParts:
    """Build every part of ``issuer``'s server on fresh keys and an empty client registry.

    ``counters``, ``faults`` and ``answers`` are the server's, shared by all
    its issuers; everything else belongs to this issuer alone.
    """
    keys = SigningKeys()
    clients = ClientRegistry()
    tokens = AccessTokens(keys, issuer)
    mappings = ClaimMappings()
    quotas = Quotas(issuer.now)
    authenticator = ClientAuthenticator(
        [
            ClientSecretBasic(clients),
            ClientSecretPost(clients),
            PrivateKeyJWT(
                clients,
                audiences=issuer.own_urls,
                clock=issuer.now,
                replays=ReplayCache(issuer.now, leeway=LEEWAY),
                strict=lambda: issuer.strict,
                issuer=lambda: issuer.url,
            ),
        ]
    )
    grants: list[Grant] = [ClientCredentialsGrant(issuer, tokens, mappings)]
    token = TokenEndpoint(
        counters=counters,
        faults=faults,
        answers=answers,
        quotas=quotas,
        authenticator=authenticator,
        grants={grant.grant_type: grant for grant in grants},
        strict=lambda: issuer.strict,
    )
    metadata = MetadataEndpoint(
        issuer=issuer,
        clients=clients,
        authenticator=authenticator,
        grant_types=token.grant_types,
        counters=counters,
    )
    paths: dict[str, Endpoint] = {
        TOKEN_PATH: token,
        JWKS_PATH: JwksEndpoint(keys=keys, faults=faults, counters=counters),
    }
    paths |= dict.fromkeys(METADATA_PATHS, metadata)
    api = DemoApi(counters=counters, tokens=tokens)
    router = Router(paths, [(API_PREFIX, api)])
    return IssuerParts(issuer, keys, clients, tokens, mappings, quotas, metadata, router)
