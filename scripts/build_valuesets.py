"""Rebuild the VSAC-sourced part of the bundled value sets from a directory of VSAC ValueSet files.

Usage:
    python scripts/build_valuesets.py VSAC_DIR [--products TSV] [--content-dir cards] [--date YYYY-MM-DD]

VSAC_DIR holds FHIR ValueSet JSON files named ``<OID>.json`` (or ``cdc-opioid-cds.<id>.json``), as
exported from VSAC or an implementation guide. ``--products`` is an RxNorm ``rxcui<TAB>name`` table,
used only to name the members of cached VSAC expansions that have no display, so that supersets can
be filtered by drug name (members it cannot name are left out where a filter needs the name).

Each bundled value set below loses every include imported earlier and gets the listed sources
imported again, in order, by `cds_service.terminology.importer.import_into` with
``replace_imported`` (the library behind ``cds-service valuesets import``; a set that does not
exist yet is created with the recipe's title): hand-added codes (verification marks v/s/u) are kept, a code a
set already holds is not repeated, each source is recorded with its url, OID, version, the
selection applied and the counts, and each include of its codes references it by ``valueSet``
(``url|version``). The set's own version is raised as `importer.with_version` says (not at all when
the compose is unchanged). The result is loaded and checked as ``lint-cards`` would before it is
written (``commands.valuesets.write_checked``): one that fails is left in ``<id>.json.rejected``.
Running it twice on the same files gives the same value sets (apart from the import date).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cds_service.commands.valuesets import write_checked
from cds_service.content.loader import Problem, read_canonical_base
from cds_service.terminology.importer import Selection, import_into, read_names, read_source, select
from cds_service.terminology.systems import SNOMED

ROOT = Path(__file__).resolve().parents[1]

# Selections (case-insensitive regular expressions on displays, or on codes from their start).
UNCERTAIN = r"uncertain (or unknown )?behaviou?r"
SKIN_NMSC = (  # non-melanoma skin cancer: not a spinal red flag (C44 is excluded for ICD-10-CM too)
    r"basal cell (carcinoma|epithelioma)",
    r"squamous cell carcinoma.{0,60}\bskin\b",
    r"^(primary )?malignant neoplasm of (the )?skin",
    r"^(other|unspecified) malignant neoplasm of skin",
)
IN_SITU = r"\bin situ\b"
MGUS = r"monoclonal gammopathy"
CORTICOSTEROIDS = (
    r"\b(prednisone|prednisolone|methylprednisolone|dexamethasone|budesonide|hydrocortisone|cortisone"
    r"|betamethasone|triamcinolone|deflazacort|fludrocortisone)\b"
)
ANTIPLATELET_NAMES = r"\b(clopidogrel|prasugrel|ticagrelor|ticlopidine|cilostazol|aspirin|plavix|effient)\b"
NSAID_NAMES = (
    r"\b(ibuprofen|naproxen|celecoxib|meloxicam|diclofenac|etodolac|indomethacin|ketorolac|nabumetone|oxaprozin"
    r"|piroxicam|sulindac|diflunisal|fenoprofen|flurbiprofen|ketoprofen|mefenamic acid|meclofenamate|tolmetin"
    r"|salsalate)\b"
)
LOCAL_FORMS = r"\b(topical|transdermal|ophthalmic|otic|vaginal|rectal|mucosal|medicated pad|patch)\b"
DRUG_USE = (  # drug use disorders that stand for injection drug use (ICD-10-CM F11, F14, F15, F19)
    r"opioid|opium|opiate|heroin|diamorphine|morphine|fentanyl|methadone|buprenorphine|narcotic"
    r"|cocaine|amfetamine|amphetamine|methamphetamine|stimulant|cathinone|psychoactive substance|intravenous"
)


@dataclass(frozen=True)
class Take:
    """One source file and the members of it that belong to the value set."""

    file: str
    select_display: tuple[str, ...] = ()
    exclude_display: tuple[str, ...] = ()
    select_code: tuple[str, ...] = ()
    exclude_code: tuple[str, ...] = ()
    named: bool = False  # name members without a display from --products before selecting
    systems: tuple[str, ...] | None = None  # keep only members of these (canonical) systems


@dataclass(frozen=True)
class Recipe:
    valueset: str
    takes: tuple[Take, ...]
    title: str | None = None  # for a value set created by this script
    description: str | None = None


def oid(value: str) -> str:
    return f"2.16.840.1.{value}.json"


RECIPES: tuple[Recipe, ...] = (
    Recipe("malignancy", (
        Take(oid("113883.3.526.2.1079"), exclude_display=(UNCERTAIN, IN_SITU, MGUS, *SKIN_NMSC)),
        Take(oid("113883.3.526.2.1078"), exclude_display=(UNCERTAIN, IN_SITU, MGUS, *SKIN_NMSC), exclude_code=("C44",)),
        Take(oid("113883.3.526.3.1010"), exclude_display=(UNCERTAIN, IN_SITU, MGUS, *SKIN_NMSC), exclude_code=("C44",)),
        Take(oid("113762.1.4.1111.161"), exclude_display=(UNCERTAIN, IN_SITU, MGUS, *SKIN_NMSC), exclude_code=("C44",)),
        Take(oid("113883.3.464.1003.108.11.1025"), exclude_display=(IN_SITU, MGUS)),
        Take(oid("113883.3.464.1003.108.11.1027"), exclude_display=(UNCERTAIN, IN_SITU, MGUS)),
        Take(oid("113762.1.4.1248.24")),
    )),
    Recipe("heart-failure", (Take(oid("113883.3.526.2.25")), Take(oid("113883.3.526.2.24")))),
    Recipe("ckd-stage-4-5", (
        Take(oid("113883.3.464.1003.109.12.1028"), select_display=(r"stage 4|stage 5|stage iv\b|stage v\b|end.stage|dialysis",)),
        Take(oid("113883.3.526.2.1037")), Take(oid("113883.3.526.2.1036")),
        Take(oid("113883.3.526.2.590")), Take(oid("113883.3.526.2.589")),
    )),
    Recipe("immunosuppression", (
        Take(oid("113762.1.4.1248.362")), Take(oid("113762.1.4.1248.361")),
        Take(oid("113883.3.464.1003.120.12.1003")),
        # 1032.211 (transplant procedures): its SNOMED CT members only. Its ICD-10-PCS members (sent under
        # http://www.icd10data.com/icd10pcs, a name for ICD-10-PCS the service learnt after this set was
        # built) were never part of it: two are 3-character tables ('02Y', '0FY'), not codes, and
        # others code imaging of a transplant; taking them would be a content change to review first.
        Take(oid("113762.1.4.1032.206")), Take(oid("113762.1.4.1032.211"), systems=(SNOMED,)),
        Take(oid("113883.3.464.1003.109.11.1060")),
    )),
    Recipe("immunosuppressant-drugs", (
        Take(oid("113762.1.4.1248.364"), select_display=(".",), exclude_display=(CORTICOSTEROIDS,)),
        Take(oid("113762.1.4.1032.258"), select_display=(".",), exclude_display=(CORTICOSTEROIDS,), named=True),
    ), "Immunosuppressant drugs", (
        "Immunosuppressive drugs (calcineurin and mTOR inhibitors, antimetabolites, biologics ...) from the VSAC sets "
        "below, without corticosteroids: systemic steroids are a separate fracture-risk path (systemic-corticosteroids, "
        "chronic steroid use). Members of the cached set 1032.258 have no display: they are taken when the product "
        "table names them and the name is not a corticosteroid."
    )),
    Recipe("osteoporosis", (
        Take(oid("113883.3.464.1003.113.12.1038")), Take(oid("113883.3.464.1003.113.12.1050")),
        Take(oid("113762.1.4.1200.147")),
    )),
    Recipe("falls", (Take(oid("113762.1.4.1147.122")), Take(oid("113762.1.4.1147.119")))),
    Recipe("peptic-ulcer", (
        Take(oid("113883.3.3157.4030")), Take(oid("113883.3.3157.4029")),
        Take(oid("113883.3.3157.4035"), select_display=(r"hematemesis|haematemesis|melena|melaena|gastrointestinal|gastric|duoden|esophag|oesophag|peptic",)),
        Take(oid("113883.3.3157.4034"), select_display=(r"hematemesis|haematemesis|melena|melaena|gastrointestinal|gastric|duoden|esophag|oesophag|peptic",)),
    )),
    Recipe("iv-drug-use", (
        Take(oid("113883.3.464.1003.106.11.1001"), select_display=(DRUG_USE,), exclude_display=(r"alcohol|cannabis|tobacco|nicotine",)),
        Take(oid("113883.3.464.1003.106.11.1003"), select_code=(r"F1[1459]",)),
        Take(oid("113762.1.4.1046.243")), Take(oid("113762.1.4.1046.242")),
    )),
    Recipe("spinal-infection", (
        Take(oid("113762.1.4.1021.95"), select_display=(
            r"^(cervical|thoracic|infective) discitis|^discitis \(|^discitis, unspecified, (cervical|cervicothoracic|thoracic|thoracolumbar) region",
        )),
    )),
    Recipe("unexplained-weight-loss", (  # weight loss and cachexia; not a low BMI, not malnutrition
        Take(oid("113762.1.4.1258.2"), select_display=(r"weight loss|cachexia",)),
        Take(oid("113762.1.4.1248.177"), select_display=(r"weight loss|cachexia",)),
    )),
    Recipe("staph-aureus-bacteremia", (Take(oid("113762.1.4.1029.237"), select_display=(r"staphylococcus aureus",)),)),
    Recipe("significant-trauma", (
        Take(oid("113762.1.4.1147.120"), select_code=(r"S1[234]\.", r"S2[234]\."),
             exclude_display=(r"sprain|strain|brachial plexus|peripheral nerves|sympathetic|open wound|laceration",)),
    )),
    Recipe("cervical-radiculopathy", (
        Take(oid("113762.1.4.1021.95"), select_display=(
            r"^cervical (radiculitis|root syndrome)|^cervical disc disorder with radiculopathy|^(multiple-level )?cervical spondylosis with radiculopathy"
            r"|^radiculopathy, (cervical|cervicothoracic) region|^other spondylosis with radiculopathy, (cervical|cervicothoracic) region",
        )),
    )),
    Recipe("cervical-myelopathy", (
        Take(oid("113762.1.4.1021.95"), select_display=(
            r"^cervical spondylosis with myelopathy|^intervertebral disc disorder of cervical region with myelopathy|^cervical disc disorder with myelopathy"
            r"|^other spondylosis with myelopathy, (cervical|cervicothoracic) region",
        )),
    )),
    Recipe("opioids", (
        Take(oid("113762.1.4.1196.226")), Take(oid("113762.1.4.1046.241")), Take(oid("113762.1.4.1248.120")),
        Take(oid("113762.1.4.1032.34")),
        Take("cdc-opioid-cds.opioid-analgesics-with-ambulatory-misuse-potential.json"),
    )),
    Recipe("benzodiazepines", (Take(oid("113762.1.4.1125.1")), Take(oid("113762.1.4.1032.43")))),
    Recipe("anticoagulants", (
        Take(oid("113762.1.4.1206.19"), select_display=(".",), exclude_display=(ANTIPLATELET_NAMES, r"\bnaproxen\b")),
        Take(oid("113762.1.4.1248.22")), Take(oid("113883.3.3157.4045")),
    )),
    Recipe("antiplatelets", (Take(oid("113762.1.4.1110.61")),)),
    Recipe("systemic-corticosteroids", (Take(oid("113883.3.464.1003.196.12.1266")),)),
    Recipe("nsaids", (Take(oid("113762.1.4.1021.73"), select_display=(NSAID_NAMES,), exclude_display=(LOCAL_FORMS,)),)),
    Recipe("gabapentinoids", (Take(oid("113762.1.4.1021.73"), select_display=(r"\b(gabapentin|pregabalin)\b",)),)),
    Recipe("muscle-relaxants-beers", (Take(oid("113883.3.464.1003.1256")),)),
    Recipe("cyclobenzaprine", (
        Take(oid("113883.3.464.1003.1256"), select_display=(r"\bcyclobenzaprine\b",)),
        Take(oid("113762.1.4.1021.73"), select_display=(r"\bcyclobenzaprine\b",)),
    )),
    Recipe("carisoprodol", (
        Take(oid("113883.3.464.1003.1256"), select_display=(r"\bcarisoprodol\b",)),
        Take(oid("113762.1.4.1021.73"), select_display=(r"\bcarisoprodol\b",)),
    )),
    Recipe("tizanidine", (Take(oid("113762.1.4.1021.73"), select_display=(r"\btizanidine\b",)),)),
    Recipe("baclofen", (Take(oid("113762.1.4.1021.73"), select_display=(r"\bbaclofen\b",), exclude_display=(r"injection|intrathecal",)),)),
    Recipe("egfr", (Take(oid("113883.3.6929.2.1000")),)),
)
# cns-active is the union of the drug sets a CNS-active count reads: the same sources, the same selections
# (one take per source: the 1021.73 selections of gabapentinoids, baclofen and tizanidine combined).
RECIPES += (
    Recipe("cns-active", (
        *(take for recipe in RECIPES if recipe.valueset in ("opioids", "benzodiazepines", "muscle-relaxants-beers") for take in recipe.takes),
        Take(oid("113762.1.4.1021.73"), select_display=(r"\b(gabapentin|pregabalin|tizanidine|baclofen)\b",),
             exclude_display=(r"baclofen.*(injection|intrathecal)",)),
    )),
)


def build(vsac: Path, content: Path, today: date, names: dict[str, str]) -> list[Problem]:
    """Rebuild every recipe's value set in ``content/valuesets``; the problems found."""
    problems: list[Problem] = []
    base = read_canonical_base(content)
    directory = content / "valuesets"
    for recipe in RECIPES:
        title = None if (directory / f"{recipe.valueset}.json").exists() else recipe.title or recipe.valueset
        sources = []
        for take in recipe.takes:
            selection = Selection(
                take.select_display, take.exclude_display, take.select_code, take.exclude_code,
                names=names if take.named else {}, systems=frozenset(take.systems) if take.systems is not None else None,
            )  # fmt: skip
            sources.append(select(read_source(vsac / take.file), selection))
        result = import_into(
            directory, recipe.valueset, sources, today,
            title=title, description=recipe.description, base=base, replace_imported=True,
        )  # fmt: skip
        problems += write_checked(result.path, result.text, base)
        added = ", ".join(f"{s.oid or s.url}: {s.codes}" for s in result.sources)
        print(f"{recipe.valueset}: {added} ({result.already} already held)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vsac_dir", type=Path)
    parser.add_argument("--products", type=Path, help="RxNorm rxcui<TAB>name table for naming display-less members")
    parser.add_argument("--content-dir", type=Path, default=ROOT / "cards")
    parser.add_argument("--date", type=date.fromisoformat, default=date.today())
    args = parser.parse_args(argv)
    names = read_names(args.products) if args.products else {}
    problems = build(args.vsac_dir, args.content_dir, args.date, names)
    for problem in problems:
        print(f"{problem} ({problem.severity})", file=sys.stderr)
    return 1 if any(p.severity == "error" for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
