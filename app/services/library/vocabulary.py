"""The search's vocabulary: the distinct folded words of the tracks' tags, each
filed under its one-letter deletions, so that the words one typo away from a
query word are found by an indexed lookup on SQLite and PostgreSQL alike
(a "deletion neighbourhood": two words one edit or one swap apart always share
a key), then checked exactly in Python.

Words are added as tags are set (catalogue.apply_tags: upload, edit, bulk edit
and its undo). A word whose last track went away stays until `rebuild()` (a
nightly job): it can only widen a query to a word no track has, which matches
nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from app.extensions import conflict_insert, db
from app.models import SearchWord, Track
from app.models.library import WORD_MAX

# Words shorter than this are not kept: a typo is forgiven in a query word of
# five letters or more, and one deleted letter leaves four.
MIN_WORD = 4
_WORD = re.compile(r"\w+")
# Words looked up in one statement.
LOOKUP_BATCH = 5000


def words_of(folded: str) -> set[str]:
    """The vocabulary words of an already folded text."""
    return {w for w in _WORD.findall(folded) if MIN_WORD <= len(w) <= WORD_MAX}


def keys_of(word: str) -> set[str]:
    """The word itself and every form with one letter deleted."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _insert_ignoring_duplicates(rows: list[dict[str, str]]) -> None:
    # Two uploads may bring the same new word at the same moment: the second insert is a no-op.
    for start in range(0, len(rows), 5000):
        stmt = conflict_insert(db.session(), SearchWord).values(rows[start : start + 5000]).on_conflict_do_nothing()
        db.session.execute(stmt)


@event.listens_for(Session, "after_rollback")
def _forget_seen(session: Session) -> None:
    # Words inserted by a rolled-back transaction are not there any more.
    session.info.pop("search_words", None)


def remember(folded_texts: Iterable[str]) -> None:
    """Add the words of these folded texts that the vocabulary lacks (flushes them)."""
    seen: set[str] = db.session.info.setdefault("search_words", set())
    wanted = set().union(*(words_of(t) for t in folded_texts)) - seen
    if not wanted:
        return
    # A word is known when its own key (the word itself) is there: one primary-key lookup each
    # (a few thousand to a statement: a bulk edit's words can outnumber SQLite's parameters).
    ordered = sorted(wanted)
    known: set[str] = set()
    for start in range(0, len(ordered), LOOKUP_BATCH):
        chunk = ordered[start : start + LOOKUP_BATCH]
        known.update(
            db.session.scalars(
                select(SearchWord.word).where(SearchWord.key.in_(chunk), SearchWord.word == SearchWord.key)
            )
        )
    rows = [{"key": key, "word": word} for word in sorted(wanted - known) for key in sorted(keys_of(word))]
    if rows:
        _insert_ignoring_duplicates(rows)
    seen.update(wanted)


def neighbours(word: str) -> set[str]:
    """The vocabulary's words one typo (a letter added, dropped, changed, or two
    neighbours swapped) away from `word`, not `word` itself."""
    found = db.session.scalars(select(SearchWord.word).where(SearchWord.key.in_(keys_of(word))).distinct())
    return {w for w in found if w != word and one_typo_apart(word, w)}


def one_typo_apart(a: str, b: str) -> bool:
    """Whether an edit distance of one (counting a swap of neighbours as one) parts a and b."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def rebuild() -> int:
    """The vocabulary from the tracks as they are now (drops words no track has); returns its size."""
    db.session.execute(delete(SearchWord))
    db.session.info.pop("search_words", None)
    words: set[str] = set()
    for search_text in db.session.scalars(select(Track.search_text).execution_options(yield_per=5000)):
        words |= words_of(search_text)
    _insert_ignoring_duplicates([{"key": k, "word": w} for w in sorted(words) for k in sorted(keys_of(w))])
    db.session.info["search_words"] = words
    return len(words)
