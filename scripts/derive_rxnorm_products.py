"""Derive the bundled RxNorm product table from a list of RxNorm product codes and names.

Usage:
    python scripts/derive_rxnorm_products.py SOURCE_TSV OUT_TSV

SOURCE_TSV has a header and two columns, ``rxcui<TAB>name`` (RxNorm SCD/SBD/SCDC names such as
"Acetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet"). OUT_TSV (normally
``cds_service/terminology/data/rxnorm-products.tsv``) receives only the products that contain an
ingredient of the drug value sets, with the columns

    rxcui  name  ingredients  strengths_mg  route  extended_release

``ingredients`` are the known ingredient codes in name order joined by ``|``; ``strengths_mg``
are aligned with them (empty where the strength is not in MG); ``route`` is one of oral,
topical, injectable, transdermal, other; ``extended_release`` is 1 for extended-release or
long-acting products. Ingredient names are matched through the name table in
``cds_service.terminology.drugnames`` (shared with the run-time text fallback).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from cds_service.terminology.drugnames import parse_product_name

HEADER = ("rxcui", "name", "ingredients", "strengths_mg", "route", "extended_release")


def _mg(value: float | None) -> str:
    return "" if value is None else f"{value:f}".rstrip("0").rstrip(".")


def derive(source: Path, out: Path) -> int:
    """Write the product table for ``source`` to ``out``; return the number of products written."""
    rows: list[tuple[str, ...]] = []
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["rxcui", "name"]:
            raise SystemExit(f"{source}: expected a header 'rxcui<TAB>name'")
        for number, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                continue
            if len(row) < 2 or not row[0].strip().isdigit():
                raise SystemExit(f"{source}:{number}: expected 'rxcui<TAB>name'")
            rxcui, name = row[0].strip(), row[1].strip()
            parsed = parse_product_name(name)
            if not parsed.ingredients:
                continue
            rows.append(
                (
                    rxcui,
                    name,
                    "|".join(parsed.ingredients),
                    "|".join(_mg(s) for s in parsed.strengths_mg),
                    parsed.route,
                    "1" if parsed.extended_release else "0",
                )
            )
    rows.sort(key=lambda r: int(r[0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    count = derive(Path(argv[0]), Path(argv[1]))
    print(f"wrote {count} products to {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
