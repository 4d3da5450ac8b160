"""What kind of token a compact JWS is, said three ways (RFC 8725 §3.11, RFC 9068).

Each kind Lupa signs has its own JOSE header ``typ`` (``at+jwt`` for access tokens, a
``…+jwt`` of its own for every other kind) and its own ``aud``, so a verifier that checks
either one, Lupa's or anybody's, refuses a token minted for another job. The private ``typ``
claim every token carried before stays in the payload and is checked too: readers written
against it keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

# The header typ of every token signed before each kind had its own.
LEGACY_HEADER_TYP = "jwt"


@dataclass(frozen=True, slots=True)
class TokenKind:
    """One kind of token: its private ``typ`` claim, header ``typ`` and audience.

    ``accepts_legacy``: whether a token of this kind signed before the change (header
    ``typ: JWT``, no ``aud``, only the claim naming its kind) still verifies. True for what is
    kept as evidence or sits in mail already sent; false for access tokens, which are
    short-lived and reissued by whoever holds them.
    """

    claim: str
    header_typ: str
    audience: str
    accepts_legacy: bool

    def issued_as(self, header_typ: object, audience: object, present: bool) -> bool:
        """Whether a verified token's header ``typ`` and ``aud`` (``present``: whether it has
        one at all) are this kind's, or, where accepted, those of a token signed before."""
        typ = media_type(header_typ)
        if typ == self.header_typ:
            return audience == self.audience
        return self.accepts_legacy and typ == LEGACY_HEADER_TYP and not present


def media_type(header_typ: object) -> str | None:
    """A header ``typ`` as the media type it names: case does not matter and the
    ``application/`` prefix may be left out (RFC 7515 §4.1.9)."""
    if not isinstance(header_typ, str):
        return None
    typ = header_typ.lower()
    return typ.removeprefix("application/")


ACCESS_TOKEN = TokenKind(
    claim="access",
    header_typ="at+jwt",
    audience="urn:lupa:consent-api",
    accepts_legacy=False,
)

# DSAR: the link mailed to a requester for their access package (single use, spent by jti),
# and the signed receipt telling them what each system erased, did not hold, or kept.
DOWNLOAD_LINK = TokenKind(
    claim="download-link",
    header_typ="download-link+jwt",
    audience="urn:lupa:link:download",
    accepts_legacy=False,
)
ERASURE_RECEIPT = TokenKind(
    claim="erasure-receipt",
    header_typ="erasure-receipt+jwt",
    audience="urn:lupa:erasure-receipt",
    accepts_legacy=False,
)

# Consent: the signed link to a customer's preference centre (GET /preferences?token=…), bound
# to the subject's external id; it opens a page session and is then out of the address bar.
PREFERENCE_LINK = TokenKind(
    claim="preference-link",
    header_typ="preference-link+jwt",
    audience="urn:lupa:consent:preference-centre",
    accepts_legacy=False,
)

# Prometheus' scrape credential: accepted at ``GET /metrics`` and nowhere else (every other
# route takes access tokens only), so the scraper holds no role over anyone's data.
METRICS_TOKEN = TokenKind(
    claim="metrics",
    header_typ="metrics+jwt",
    audience="urn:lupa:metrics",
    accepts_legacy=False,
)
