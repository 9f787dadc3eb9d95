"""Recompute NHS England's published NHS Talking Therapies rates with the product's definitions.

Usage:
    .venv/bin/python scripts/nhs_talking_therapies.py measures_annual.parquet [--extract OUT.parquet]

The input is ``data-raw/measures_annual.parquet`` of github.com/bennettoxford/nhstt (NHS England
open data, Open Government Licence v3.0), or the extract kept in tests/data/nhstt/. Prints rows
compared and rows equal by geography level (analytics.nhs_talking_therapies.comparison_table).
``--extract`` writes the test extract: the totals of every organisation, England's breakdowns,
and every organisation's count of each figure that is 0 for England (how zeros are published).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.nhs_talking_therapies import (  # noqa: E402
    COUNTS,
    KEY,
    NATIONAL,
    RATES,
    compare_published,
    comparison_table,
    read_published,
)


def write_extract(source: Path, out: Path) -> int:
    """Write the test extract of ``source`` to ``out``; returns its number of rows."""
    table = pq.read_table(source, columns=[*KEY, "measure_name", "measure_statistic", "value"])
    table = table.filter(pc.is_in(table["measure_name"], pa.array(sorted(set(COUNTS) | set(RATES)))))
    national = pc.equal(table["org_type"], NATIONAL)
    keep = pc.or_(pc.equal(table["variable_type"], "Total"), national)
    zero = table.filter(pc.and_(national, pc.and_(pc.equal(table["measure_statistic"], "count"),
                                                  pc.equal(table["value"], "0"))))
    cell = ["reporting_period", "variable_type", "variable_a", "variable_b", "measure_name"]
    zero_cells = {tuple(r[c] for c in cell) for r in zero.to_pylist()}
    rows = table.to_pylist()
    mask = keep.to_pylist()
    chosen = [r for r, k in zip(rows, mask, strict=True)
              if k or (r["measure_statistic"] == "count" and tuple(r[c] for c in cell) in zero_cells)]
    seen, unique = set(), []
    for r in chosen:
        t = tuple(r.values())
        if t not in seen:
            seen.add(t)
            unique.append(r)
    unique.sort(key=lambda r: tuple("" if v is None else v for v in r.values()))
    pq.write_table(pa.Table.from_pylist(unique, schema=table.schema), out, compression="zstd")
    return len(unique)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parquet", type=Path, help="measures_annual.parquet (nhstt) or the test extract")
    parser.add_argument("--extract", type=Path, help="write the test extract here")
    args = parser.parse_args(argv)
    if args.extract:
        print(f"extract: {write_extract(args.parquet, args.extract)} rows -> {args.extract}")
    compared = compare_published(read_published(args.parquet))
    table = comparison_table(compared)
    print(table.to_string(index=False))
    print("equal: recomputed with analytics.metrics.nhs_paired_rates and rounded as published (England 1 dp, "
          "below England whole percent) == published; consistent: equal, or reachable from counts within "
          "the rounding to 5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
