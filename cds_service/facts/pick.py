"""Picking the record entries a fact is about, validating as few as the answer needs.

Entries come unvalidated (``Record.candidates_in``). Their order and date windows use
``Entry.date_key`` — the date the JSON states, equal to the validated date for every entry that
validates — so only the entries a fact actually uses are validated: ``first_dated`` validates in
date order until one is accepted, ``within`` only what falls in the window. An invalid, void or
(where asked) inactive entry is passed over exactly where it would have been dropped.
``imaging``, ``is_fusion``, ``cervical_site`` and ``other_region`` read spine imaging and fusion entries;
``doubts`` finds the entries that could establish a fact but were not understood.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date

from cds_service.facts.model import UNDATED, UNREADABLE, UNRECOGNISED_TEXT, Fact, Imaging
from cds_service.facts.record import Entry

IMAGING_SETS = {
    f"imaging-{modality}-{region}-spine": (modality, region)
    for modality in ("xr", "ct", "mri")
    for region in ("cervical", "thoracic")
}


def fact(entry: Entry, key: str, value: float | None = None, unit: str | None = None) -> Fact:
    return Fact(key, (entry.ref,), entry.display, entry.when, value, unit)


def usable(entry: Entry) -> bool:
    return entry.usable


def active(entry: Entry) -> bool:
    return not entry.stated_inactive and entry.usable and entry.active_condition


def first_dated(entries: Iterable[Entry], accept: Callable[[Entry], bool], newest: bool = False) -> Entry | None:
    """The oldest (or newest) accepted entry, undated ones last, ties in record order; entries are
    validated (by ``accept``) in that order until one is accepted."""
    keyed = [(e.date_key, e) for e in entries]
    if not keyed:
        return None
    if newest:
        keyed.sort(key=lambda k: k[0] or date.min, reverse=True)
    else:
        keyed.sort(key=lambda k: (k[0] is None, k[0] or date.max))
    return next((e for _, e in keyed if accept(e)), None)


def earliest(entries: Iterable[Entry], key: str, accept: Callable[[Entry], bool] = usable) -> Fact | None:
    found = first_dated(entries, accept)
    return fact(found, key) if found is not None else None


def dated_within(entries: Iterable[Entry], today: date, days: int) -> list[Entry]:
    """Entries whose (stated) date is 0 to ``days`` days before ``today``, not validated."""
    return [e for e in entries if (on := e.date_key) is not None and 0 <= (today - on).days <= days]


def within(entries: Iterable[Entry], today: date, days: int) -> list[Entry]:
    """Usable entries dated 0 to ``days`` days before ``today``; only those in the window are validated."""
    return [e for e in dated_within(entries, today, days) if e.usable]


def is_fusion(entry: Entry) -> bool:
    return any(word in entry.display.lower() for word in ("fusion", "arthrodesis"))


def _site_words(entry: Entry) -> list[str]:
    """The lowercased texts and coding displays of a validated entry's body sites."""
    words = []
    for site in getattr(entry.model, "bodySite", None) or []:
        words += [(site.text or "").lower()] + [(c.display or "").lower() for c in site.coding or []]
    return words


def cervical_site(entry: Entry) -> bool:
    return any("cervical" in w or "neck" in w for w in _site_words(entry))


# Stems naming a spine region other than the cervical one ("thoracolumbar", "lumbosacral", "sacrum").
_OTHER_REGIONS = ("thorac", "lumb", "sacr", "cocc")


def other_region(entry: Entry) -> bool:
    """A validated fusion entry's body sites or text name a spine region other than the cervical one,
    and nothing cervical: it is understood not to be a cervical fusion."""
    words = [*_site_words(entry), entry.display.lower()]
    if any("cervic" in w or "neck" in w for w in words):
        return False
    return any(stem in w for w in words for stem in _OTHER_REGIONS)


def study_done(entry: Entry) -> bool:
    """Whether a study's stated status lets it be done, as ``imaging`` reads it: a ServiceRequest not
    stated other than completed, an ImagingStudy not stated registered (read from the JSON)."""
    status = entry.raw.get("status")
    if type(status) is not str:
        return True
    if entry.resource_type == "ServiceRequest":
        return status == "completed"
    return not (entry.resource_type == "ImagingStudy" and status == "registered")


def _date_key(entry: Entry) -> date | None:
    return entry.date_key


def doubts(
    named: Iterable[Entry], coded: Iterable[Entry], possible: Callable[[Entry], bool], dated: bool,
    date_of: Callable[[Entry], date | None] = _date_key,
) -> Iterator[Fact]:  # fmt: skip
    """The entries that could establish a fact but were not understood, each a fact keyed by why and
    dated by ``date_of``: ``named`` ones, in no value set but with text naming the fact
    (``UNRECOGNISED_TEXT``); ``coded`` ones, in the fact's value sets, that fail validation
    (``UNREADABLE``) or, when the fact needs a date (``dated``), have none (``UNDATED``). Void entries,
    and those ``possible`` rules out by what is understood of them (a date outside the fact's window, a
    status), could not establish it."""
    for entry in named:
        if not entry.stated_void and possible(entry):
            yield Fact(UNRECOGNISED_TEXT, (entry.ref,), entry.display, date_of(entry))
    for entry in coded:
        if entry.stated_void or not possible(entry):
            continue
        if entry.model is None:
            yield Fact(UNREADABLE, (entry.ref,), entry.display, date_of(entry))
        elif dated and entry.usable and entry.date_key is None:
            yield Fact(UNDATED, (entry.ref,), entry.display)


def imaging(entries: Iterable[Entry], today: date) -> tuple[Imaging, ...]:
    """Every dated, done c/t-spine study up to today (Procedure, completed ServiceRequest, ImagingStudy), newest first."""
    found = []
    for entry in entries:
        on = entry.date_key
        if on is None or on > today or not entry.usable:
            continue
        if entry.resource_type == "ServiceRequest" and entry.status != "completed":
            continue
        if entry.resource_type == "ImagingStudy" and entry.status == "registered":
            continue  # registered: announced, nothing acquired yet
        for vs_id, (modality, region) in IMAGING_SETS.items():
            if vs_id in entry.valuesets:
                found.append(Imaging(modality, region, fact(entry, f"imaging-{modality}")))
    return tuple(sorted(found, key=lambda i: i.fact.on or date.min, reverse=True))
