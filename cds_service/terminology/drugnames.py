"""Drug names: the ingredient name table, RxNorm product-name parsing and free-text matching.

One table serves both the offline derivation of the product table
(``scripts/derive_rxnorm_products.py``) and the run-time fallback that finds ingredients in
``medicationCodeableConcept.text`` / ``coding.display`` when no code matches.

`INGREDIENTS` lists every RxNorm ingredient that a drug value set in ``cards/valuesets`` names
(a unit test keeps the two in step). Salt and ester words ("hydrochloride", "bitartrate",
"sodium" ...) are stripped before a product's ingredient name is looked up, so
"Diclofenac Sodium" and "Hydrocodone Bitartrate" match diclofenac and hydrocodone while
"dihydrocodeine" or "gabapentin enacarbil" (distinct ingredients) do not match codeine or gabapentin.

``extended_release`` means extended-release or long-acting: an "Extended Release" /
"Sustained Release" dose form, a "12 HR" / "24 HR" prefix, a transdermal system, or methadone
(long-acting by pharmacology, as the CDC 2022 opioid guideline groups it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: RxNorm ingredient code -> names (first = the RxNorm ingredient name, lower-case).
INGREDIENTS: dict[str, tuple[str, ...]] = {
    "21949": ("cyclobenzaprine",),
    "6845": ("methocarbamol",),
    "2101": ("carisoprodol",),
    "59078": ("metaxalone",),
    "7715": ("orphenadrine",),
    "2410": ("chlorzoxazone",),
    "57258": ("tizanidine",),
    "1292": ("baclofen",),
    "8640": ("prednisone",),
    "6902": ("methylprednisolone",),
    "3264": ("dexamethasone",),
    "8638": ("prednisolone",),
    "10759": ("triamcinolone",),
    "7804": ("oxycodone",),
    "5489": ("hydrocodone",),
    "7052": ("morphine",),
    "10689": ("tramadol",),
    "2670": ("codeine",),
    "3423": ("hydromorphone",),
    "787390": ("tapentadol",),
    "4337": ("fentanyl",),
    "6813": ("methadone",),
    "1819": ("buprenorphine",),
    "7814": ("oxymorphone",),
    "5640": ("ibuprofen",),
    "7258": ("naproxen",),
    "140587": ("celecoxib",),
    "41493": ("meloxicam",),
    "3355": ("diclofenac",),
    "1191": ("aspirin", "acetylsalicylic acid"),
    "161": ("acetaminophen", "paracetamol", "apap"),
    "25480": ("gabapentin",),
    "187832": ("pregabalin",),
    "72625": ("duloxetine",),
    "3322": ("diazepam",),
    "6470": ("lorazepam",),
    "596": ("alprazolam",),
    "2598": ("clonazepam",),
    "11289": ("warfarin",),
    "1364430": ("apixaban",),
    "1114195": ("rivaroxaban",),
    "32968": ("clopidogrel",),
}

LONG_ACTING_INGREDIENTS = frozenset({"6813"})  # methadone

_SALT_WORDS = frozenset(
    "hydrochloride hcl hydrobromide bitartrate tartrate sodium potassium dipotassium calcium magnesium "
    "sulfate bisulfate phosphate citrate maleate acetate diacetate acetonide hexacetonide succinate "
    "fumarate mesylate besylate polistirex myristate epolamine lysine anhydrous monohydrate mofetil".split()
)
_NAME_TO_CODE: dict[str, str] = {name: code for code, names in INGREDIENTS.items() for name in names}

_BRAND = re.compile(r"\s*\[([^\]]+)\]\s*$")
_PREFIX = re.compile(r"^(?:(?:\d+(?:\.\d+)?\s+(?:HR|ML|ACTUAT|DAY)|Abuse-Deterrent)\s+)+", re.IGNORECASE)
_SEGMENT = re.compile(r"^(?P<name>.+?)\s+(?P<amount>\d+(?:\.\d+)?)\s+(?P<unit>\S+)(?:\s+(?P<form>.+))?$")
# A dose form group closing a name without strength ("Methotrexate Pill", "tacrolimus Topical Product").
_FORM_GROUP = re.compile(r"(?:\s+(?:oral|injectable|topical|liquid))*\s+(?:pill|product)$", re.IGNORECASE)
_ER_WORDS = re.compile(
    r"\b(?:extended|sustained|controlled)[ -]release\b|\b(?:12|24)[ -]?(?:hr|hour)\b|\b(?:er|xr|sr|cr|xl|la)\b",
    re.IGNORECASE,
)

# Route words, checked in this order; the first group that matches decides.
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("other", re.compile(r"\b(?:rectal|nasal|ophthalmic|otic|vaginal|inhal\w*|enema|suppository)\b", re.I)),
    ("transdermal", re.compile(r"\btransdermal\b", re.I)),
    ("injectable", re.compile(r"\b(?:inject\w*|syringe|auto-injector|cartridge|intravenous|intramuscular|iv|im|inj)\b", re.I)),
    ("oral", re.compile(r"\b(?:oral|po|by mouth)\b", re.I)),
    ("topical", re.compile(r"\b(?:topical|cream|ointment|gel|lotion|medicated patch|foam|spray)\b", re.I)),
    ("transdermal", re.compile(r"\bpatch\b", re.I)),
    ("oral", re.compile(r"\b(?:tablet|tab|tabs|capsule|cap|caps|chewable|sublingual|buccal|lozenge|pill|caplet|syrup|elixir)\b", re.I)),
)


@dataclass(frozen=True, slots=True)
class ParsedProduct:
    """What a product name says: known ingredients (name order) with MG strengths, route, ER/LA."""

    ingredients: tuple[str, ...]
    strengths_mg: tuple[float | None, ...]
    route: str
    extended_release: bool


def ingredient_code(name: str) -> str | None:
    """The ingredient code for a product component name ("Diclofenac Sodium" -> "3355")."""
    words = name.lower().replace(",", " ").split()
    while words:
        code = _NAME_TO_CODE.get(" ".join(words))
        if code is not None:
            return code
        if words[-1] not in _SALT_WORDS:
            return None
        words.pop()
    return None


def _leading_ingredient(text: str) -> str | None:
    words = text.split()
    for end in range(len(words), 0, -1):
        code = ingredient_code(" ".join(words[:end]))
        if code is not None:
            return code
    return None


def route_of(text: str) -> str | None:
    """The route that dose-form words in ``text`` imply (oral, topical, injectable, transdermal, other)."""
    for route, pattern in _ROUTES:
        if pattern.search(text):
            return route
    return None


def says_extended_release(text: str) -> bool:
    """Whether ``text`` names an extended-release form ("Extended Release", "24 HR", "ER" ...)."""
    return _ER_WORDS.search(text) is not None


def parse_product_name(name: str) -> ParsedProduct:
    """Parse an RxNorm clinical/branded drug name into its known ingredients and form."""
    body = _BRAND.sub("", name).strip()
    if body.startswith("{"):  # a pack: "{21 (Methylprednisolone 4 MG Oral Tablet) } Pack"
        parts = [parse_product_name(inner) for inner in re.findall(r"\(([^()]*)\)", body)]
        ingredients = tuple(dict.fromkeys(code for part in parts for code in part.ingredients))
        by_code = {c: s for part in parts for c, s in zip(part.ingredients, part.strengths_mg)}
        routes = {part.route for part in parts}
        return ParsedProduct(
            ingredients,
            tuple(by_code[c] for c in ingredients),
            routes.pop() if len(routes) == 1 else "other",
            any(part.extended_release for part in parts),
        )
    body = _PREFIX.sub("", body)
    codes: list[str] = []
    strengths: list[float | None] = []
    form = ""
    for segment in body.split(" / "):
        match = _SEGMENT.match(segment.strip())
        if match:
            component, form = match["name"], match["form"] or form
            strength = float(match["amount"]) if match["unit"].upper() == "MG" else None
        else:  # no strength: a trailing dose form may follow the name ("Hydrocodone Pill")
            component, strength = segment.strip(), None
        code = ingredient_code(component) if match else _leading_ingredient(component)
        if code is not None and code not in codes:
            codes.append(code)
            strengths.append(strength)
    route = route_of(form or body) or "other"
    return ParsedProduct(tuple(codes), tuple(strengths), route, is_extended_release(name, route, codes))


def is_extended_release(text: str, route: str | None, ingredients: Iterable[str]) -> bool:
    """ER/LA: an extended-release form, a transdermal system, or a long-acting ingredient."""
    return (
        route == "transdermal"
        or says_extended_release(text)
        or any(code in LONG_ACTING_INGREDIENTS for code in ingredients)
    )


def member_names(displays: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(names, routes) of the single-ingredient products among RxNorm ``displays`` whose ingredient
    `INGREDIENTS` does not name: the ingredient (lower case, salt and ester words dropped) and brand
    names, and the routes their dose forms state. Combinations and packs are passed over: the other
    ingredient of "hyaluronidase / rituximab" names no rituximab."""
    names: set[str] = set()
    routes: set[str] = set()
    for display in displays:
        body = _PREFIX.sub("", _BRAND.sub("", display).strip())
        if body.startswith("{") or " / " in body:
            continue
        match = _SEGMENT.match(body)
        words = (match["name"] if match else _FORM_GROUP.sub("", body)).lower().replace(",", " ").split()
        while len(words) > 1 and words[-1] in _SALT_WORDS:
            words.pop()
        name = " ".join(words)
        if not name or ingredient_code(name) is not None:
            continue
        names.add(name)
        brand = _BRAND.search(display)
        if brand and len(brand[1].strip()) >= 3:
            names.add(brand[1].strip().lower())
        route = route_of(match["form"] or "") if match else None
        if route is not None:
            routes.add(route)
    return frozenset(names), frozenset(routes)


class MemberNames:
    """Drug value sets found by their members' ingredient and brand names (``member_names``) in free
    text, as whole words. A name counts for a set unless the text states a route none of the set's
    members has: a tacrolimus ointment is not the oral or injected tacrolimus of an immunosuppressant set."""

    def __init__(self, displays_by_set: Mapping[str, Iterable[str]]) -> None:
        by_name: dict[str, set[str]] = {}
        self._routes: dict[str, frozenset[str]] = {}
        for set_id, displays in displays_by_set.items():
            names, routes = member_names(displays)
            for name in names:
                by_name.setdefault(name, set()).add(set_id)
            self._routes[set_id] = routes
        self._names = NameMatcher(by_name)

    def find(self, text: str | None) -> frozenset[str]:
        """The ids of the value sets whose members' names occur in ``text`` in a route they have."""
        found = self._names.find(text)
        if not found:
            return found
        route = route_of(text or "")
        return frozenset(s for s in found if route is None or not self._routes[s] or route in self._routes[s])


class NameMatcher:
    """Finds ingredient (and brand) names in free text as whole words; compiled once.

    Text and names are split into runs of letters and runs of digits, so "Flexeril10mg" and
    "Aleve-D" match while "dihydrocodeine" does not match "codeine".
    """

    def __init__(self, names: Mapping[str, Iterable[str]]) -> None:
        self._codes: dict[tuple[str, ...], frozenset[str]] = {}
        for name, codes in names.items():
            key = _tokens(name)
            if key:
                self._codes[key] = self._codes.get(key, frozenset()) | frozenset(codes)
        self._first = frozenset(key[0] for key in self._codes)
        self._longest = max((len(key) for key in self._codes), default=0)

    @classmethod
    def for_ingredients(cls, extra: Mapping[str, Iterable[str]] | None = None) -> NameMatcher:
        """A matcher for `INGREDIENTS` names plus ``extra`` names (e.g. brands)."""
        names: dict[str, set[str]] = {name: {code} for name, code in _NAME_TO_CODE.items()}
        for name, codes in (extra or {}).items():
            names.setdefault(name.lower(), set()).update(codes)
        return cls(names)

    def find(self, text: str | None) -> frozenset[str]:
        """Ingredient codes whose names occur in ``text`` as whole words (case-insensitive)."""
        if not text:
            return frozenset()
        tokens = _tokens(text)
        found: set[str] = set()
        for start, token in enumerate(tokens):
            if token not in self._first:
                continue
            for end in range(start + 1, min(start + self._longest, len(tokens)) + 1):
                codes = self._codes.get(tokens[start:end])
                if codes:
                    found |= codes
        return frozenset(found)


_TOKEN = re.compile(r"[a-z]+|[0-9]+")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower()))
