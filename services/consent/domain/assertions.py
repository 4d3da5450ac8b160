"""What a caller may assert about a consent: it follows from the caller's credential.

A consent's source, collection method and giver stand in its signed receipt as evidence, so
they cannot be whatever a request body says. A portal acts for the person in front of it: it
records the portal as the source, a web form or checkbox as the method, and the subject as the
giver. Guardian consent (GDPR Art. 8) needs the guardian's own verified act, which a portal
token (the child's own session) is not; it is recorded by the roles that collect consent
elsewhere and hold that evidence (admin, an import).
"""

from __future__ import annotations

from shared.errors import Forbidden

# What a portal token may record: its own kind of source and the methods of a web page.
PORTAL_SOURCES = frozenset({"portal"})
PORTAL_METHODS = frozenset({"web_form", "checkbox"})
PORTAL_GIVERS = frozenset({"subject"})


def check_assertions(role: str, source: str, collection_method: str, given_by: str) -> None:
    """Refuse (403) what ``role`` may not assert; admin may assert any source and method."""
    if role != "portal":
        return
    if source not in PORTAL_SOURCES:
        raise Forbidden("A portal token records consent with source 'portal'.", field="source")
    if collection_method not in PORTAL_METHODS:
        raise Forbidden(
            "A portal token records consent collected by web_form or checkbox.",
            field="collection_method",
        )
    if given_by not in PORTAL_GIVERS:
        raise Forbidden(
            "A portal token records the subject's own consent; consent given by a guardian "
            "needs the guardian's own verified act and is recorded by an admin or an import.",
            field="given_by",
        )


def page_without_query(page: str | None) -> str | None:
    """The page a consent was given on, without its query and fragment: page addresses often
    carry an email address or a token there, and the page is stored in the clear."""
    if page is None:
        return None
    kept = page.split("?", 1)[0].split("#", 1)[0]
    return kept or None
