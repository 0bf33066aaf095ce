"""Ranked search (services/search.py, as the library page and Subsonic's search3)."""

from __future__ import annotations

from typing import Any

from app.api_v1 import schemas
from app.api_v1.auth import api_user
from app.api_v1.common import BEARER, limited, page_meta, protected, tracks_data
from app.services import search as ranked_search

bp = protected("v1_search", "Ranked search with typo tolerance, highlights and facets", "/search")

FILTERS = ("genre", "artist_id", "album_id", "format", "decade")


@bp.get("")
@bp.arguments(schemas.SearchQuerySchema, location="query")
@bp.response(200, schemas.SearchResultSchema)
@bp.doc(security=BEARER)
@limited("read")
def search(args: dict[str, Any]) -> dict[str, Any]:
    """Tracks you may see matching q, best first: the exact title, then the exact artist, the
    exact album, every word in the title, in the artist or album, then elsewhere (genre);
    with the matched parts highlighted and counts per genre, artist, format and decade."""
    user_id = api_user().id
    applied = {key: args[key] for key in FILTERS if args.get(key) not in (None, "")}
    found = ranked_search.search(
        user_id, args["q"], ranked_search.Filters(**applied), page=args["page"], per_page=args["limit"]
    )
    data = [
        dict(t, score=hit.score, highlight={k: str(v) for k, v in hit.highlight.items()})
        for t, hit in zip(tracks_data([h.track for h in found.hits], user_id), found.hits, strict=True)
    ]
    facets = {
        name: [{"value": f.value, "label": f.label, "count": f.count} for f in values]
        for name, values in found.facets.items()
    }
    meta = page_meta(found.page, found.per_page, found.total)
    meta.update(q=args["q"], terms=found.terms, filters=applied)
    return {"data": data, "facets": facets, "meta": meta}
