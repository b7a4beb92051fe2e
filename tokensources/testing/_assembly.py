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
from ._assertion_auth import PrivateKeyJWT
from ._assertion_claims import LEEWAY
from ._claim_mappings import ClaimMappings
from ._client_auth import ClientAuthenticator
from ._client_credentials import ClientCredentialsGrant
from ._clients import ClientRegistry
from ._counters import Counters
from ._dpop import TokenEndpointDPoP
from ._faults import Faults
from ._grants import Grant
from ._introspection import IntrospectionEndpoint
from ._issuer import Issuer
from ._jwks_endpoint import JwksEndpoint
from ._jwt_bearer_grant import JWTBearerGrant
from ._metadata import MetadataEndpoint
from ._paths import API_PREFIX, INTROSPECTION_PATH, JWKS_PATH, METADATA_PATHS, TOKEN_PATH
from ._public_client_auth import NoClientAuthentication
from ._quotas import Quotas
from ._routes import Endpoint, Router
from ._secret_auth import ClientSecretBasic, ClientSecretPost
from ._secret_jwt_auth import ClientSecretJWT
from ._signing_keys import SigningKeys
from ._strict import StrictReplayCache
from ._subject_tokens import SubjectValidator
from ._tls_auth import SelfSignedTlsClientAuth, TlsClientAuth
from ._token_endpoint import TokenEndpoint
from ._token_exchange_grant import TokenExchangeGrant
from ._workload_issuer import WorkloadIssuer

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
    dpop: TokenEndpointDPoP | None = None
    workload: WorkloadIssuer | None = None
    introspection: IntrospectionEndpoint | None = None


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
    # One replay cache for every assertion method: a jti is used once, whoever checks it.
    # In strict mode a jti is refused even after its assertion expired.
    replays = StrictReplayCache(issuer.now, leeway=LEEWAY, strict=lambda: issuer.strict)
    # The platform that hands workloads their tokens; trusted for subject tokens.
    workload = WorkloadIssuer(clock=issuer.now)
    authenticator = ClientAuthenticator(
        [
            ClientSecretBasic(clients),
            ClientSecretPost(clients),
            PrivateKeyJWT(
                clients,
                audiences=issuer.own_urls,
                clock=issuer.now,
                replays=replays,
                strict=lambda: issuer.strict,
                issuer=lambda: issuer.url,
            ),
            ClientSecretJWT(
                clients,
                audiences=issuer.own_urls,
                clock=issuer.now,
                replays=replays,
                strict=lambda: issuer.strict,
                issuer=lambda: issuer.url,
            ),
            TlsClientAuth(clients),
            SelfSignedTlsClientAuth(clients),
            NoClientAuthentication(
                clients,
                grant_types=(TokenExchangeGrant.grant_type, JWTBearerGrant.grant_type),
                audiences=lambda: (issuer.audience, *workload.audiences),
            ),
        ]
    )
    subjects = SubjectValidator(
        workloads=[workload],
        tokens=tokens,
        own_issuer=lambda: issuer.url,
        own_urls=issuer.own_urls,
        clock=issuer.now,
    )
    grants: list[Grant] = [
        ClientCredentialsGrant(issuer, tokens, mappings),
        TokenExchangeGrant(issuer, tokens, subjects),
        JWTBearerGrant(issuer, tokens, subjects),
    ]
    dpop = TokenEndpointDPoP(
        clock=issuer.now,
        token_urls=lambda: {base + TOKEN_PATH for base in issuer.base_urls()},
        bind_token=tokens.bind,
        base_urls=issuer.base_urls,
    )
    token = TokenEndpoint(
        counters=counters,
        faults=faults,
        answers=answers,
        quotas=quotas,
        authenticator=authenticator,
        grants={grant.grant_type: grant for grant in grants},
        strict=lambda: issuer.strict,
        dpop=dpop,
    )
    metadata = MetadataEndpoint(
        issuer=issuer,
        clients=clients,
        authenticator=authenticator,
        grant_types=token.grant_types,
        counters=counters,
        dpop=dpop,
    )
    paths: dict[str, Endpoint] = {
        TOKEN_PATH: token,
        JWKS_PATH: JwksEndpoint(keys=keys, faults=faults, counters=counters),
    }
    # RFC 7662 §2.1: resource servers authenticate as clients, as at the token endpoint.
    introspection = IntrospectionEndpoint(
        issuer=issuer, tokens=tokens, authenticator=authenticator, clients=clients
    )
    paths[INTROSPECTION_PATH] = introspection
    paths |= dict.fromkeys(METADATA_PATHS, metadata)
    api = DemoApi(counters=counters, tokens=tokens, dpop=dpop.api)
    router = Router(paths, [(API_PREFIX, api)])
    return IssuerParts(
        issuer,
        keys,
        clients,
        tokens,
        mappings,
        quotas,
        metadata,
        router,
        dpop,
        workload,
        introspection,
    )
