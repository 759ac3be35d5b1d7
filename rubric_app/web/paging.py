"""Paged lists in the JSON API: ``?limit=`` and an opaque ``?cursor=``, a ``next`` link in the body
and an RFC 8288 ``Link: <...>; rel="next"`` header.

The cursor names where the next page starts; clients treat it as opaque and only send back what a
``next`` link gave them. Both parameters are bounded where they are parsed: ``limit`` from 1 to
:data:`MAX_LIMIT` (default :data:`DEFAULT_LIMIT`), a cursor of at most 40 characters that decodes
to a position below :data:`MAX_OFFSET`; anything else is a 422 naming the parameter.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from flask import request, url_for

from ..inputs import ascii_int
from ..services import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 10_000_000
_PREFIX = "o:"


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def slice(self, rows: list) -> list:
        return rows[self.offset:self.offset + self.limit]


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    problem = Invalid("cursor: send back the cursor of a 'next' link unchanged.", [{"field": "cursor"}])
    if not cursor or len(cursor) > 40 or not cursor.isascii():
        raise problem
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise problem from None
    if not text.startswith(_PREFIX):
        raise problem
    offset = ascii_int(text[len(_PREFIX):], 0, MAX_OFFSET - 1, max_digits=8)
    if offset is None or text[len(_PREFIX):] != str(offset):
        raise problem
    return offset


def page_from_request() -> Page:
    raw_limit = request.args.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        parsed = ascii_int(raw_limit.strip(), 1, MAX_LIMIT, max_digits=4)
        if parsed is None:
            raise Invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}.", [{"field": "limit", "maximum": MAX_LIMIT}])
        limit = parsed
    cursor = request.args.get("cursor")
    return Page(limit=limit, offset=decode_cursor(cursor.strip()) if cursor is not None else 0)


def paged(response_body: dict, page: Page, total: int, endpoint: str, **values) -> tuple[dict, dict]:
    """Add ``limit``, ``total`` and ``next`` (an absolute URL or None) to the body; return it with the
    headers to send (a ``Link`` header when there is a next page)."""
    next_offset = page.offset + page.limit
    link = None
    if next_offset < total:
        args = {k: v for k, v in request.args.items() if k not in ("cursor", "limit")}
        link = url_for(endpoint, **values, **args, limit=page.limit, cursor=encode_cursor(next_offset), _external=True)
    response_body.update({"limit": page.limit, "total": total, "next": link})
    return response_body, ({"Link": f'<{link}>; rel="next"'} if link else {})
