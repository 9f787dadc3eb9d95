"""Command line: ``python -m analytics {import,summary,sample,backtest,bench,users} ...``.

Exit status: 0 success, 1 when any row or file was rejected (import) or data is missing,
2 for a usage error, 3 when the database cannot be written (full disk, read-only folder:
nothing was changed). Bad data never produces a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..config import Settings, load_settings
from .common import open_for_reading


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors already
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


EXIT_NOT_WRITABLE = 3  # the database cannot be written (analytics.storage.DatabaseNotWritable)


class UsageError(Exception):
    """A command-line argument that cannot be used (exit status 2, no traceback)."""


def _settings(args: argparse.Namespace) -> Settings:
    if not getattr(args, "config", None):
        return Settings()
    try:
        return load_settings(args.config)
    except (OSError, ValueError, TypeError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise UsageError(f"cannot use the settings file {args.config}: {exc}") from None


def cmd_import(args: argparse.Namespace) -> int:
    from ..ingest.importer import dry_run, import_files
    from ..ingest.profiles import ProfileError, load_profile

    try:
        profile = load_profile(args.profile) if args.profile else None
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ..storage import DatabaseUnusable

    started = time.perf_counter()
    try:
        if args.dry_run:
            result = dry_run(args.db, args.files, profile=profile, settings=_settings(args), snapshot=args.snapshot)
        else:
            result = import_files(args.db, args.files, profile=profile, settings=_settings(args), source="cli",
                                  snapshot=args.snapshot)
    except DatabaseUnusable as exc:
        raise UsageError(str(exc)) from None
    print(result.report())
    print(f"({time.perf_counter() - started:.2f} s)")
    return result.exit_code


def _format_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_summary(summary: dict) -> str:
    """The summary as a readable table (same numbers as --json, rounded for reading)."""
    lines = [
        f"Clients: {summary['clients']}",
        f"Assignments: {summary['assignments']} ({summary['reviewed_assignments']} reviewed)"
        f"   Follow-up (after discharge, not counted): {summary['follow_up_assignments']}",
        f"Mean quantity: {_format_value(summary['mean_quantity'])}   Mean quality: {_format_value(summary['mean_quality'])}"
        f"   Reviewed share: {_format_value(summary['reviewed_share'])}",
    ]
    measures = summary["measures"]
    if measures:
        names = list(measures)
        keys = list(next(iter(measures.values())))
        width = max(len(k) for k in keys) + 2
        lines.append("")
        lines.append("".ljust(width) + "".join(n.rjust(12) for n in names))
        for key in keys:
            lines.append(key.ljust(width) + "".join(_format_value(measures[n][key]).rjust(12) for n in names))
    return "\n".join(lines)


def cmd_summary(args: argparse.Namespace) -> int:
    from ..scope import CohortFilter, Viewer
    from ..summary import cohort_summary

    db = open_for_reading(args.db)
    if db is None:
        return 1
    with db:
        cohort = CohortFilter.of(clinics=args.clinic, therapists=args.therapist, programs=args.program)
        summary = cohort_summary(db, Viewer.local(), cohort, _settings(args))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..ingest.sample import build_sample_database

    started = time.perf_counter()
    result = build_sample_database(args.db, clients=args.clients, seed=args.seed, csv_dir=args.csv_dir)
    print(result.report())
    if args.fhir_dir:
        from sample_data.generator import generate_clinic

        from ..ingest.fhir_export import write_fhir_export

        written = write_fhir_export(generate_clinic(args.clients, seed=args.seed), args.fhir_dir)
        print(f"FHIR Bulk Data export of the same clinic: {len(written)} NDJSON files in {args.fhir_dir}")
    print(f"Sample clinic of {args.clients} clients written to {args.db} in {time.perf_counter() - started:.1f} s")
    return result.exit_code


def cmd_backtest(args: argparse.Namespace) -> int:
    """The early-warning back-test (docs/metrics.md, "Expected recovery curves"): per measure and week."""
    from datetime import date

    from ..expected_response import BACKTEST_NOTE, backtest, backtest_markdown, backtest_rows
    from ..scope import Viewer

    try:
        split = date.fromisoformat(args.split) if args.split else None
    except ValueError:
        raise UsageError(f"--split must be a date (YYYY-MM-DD), not {args.split!r}") from None
    db = open_for_reading(args.db)
    if db is None:
        return 1
    started = time.perf_counter()
    with db:
        table = backtest(db, Viewer.local(), split=split, settings=_settings(args))
    if table.empty:
        print("No back-test: too few discharged clients before or after the split date.", file=sys.stderr)
        return 1
    split_used = table["split"].iloc[0]
    train = ", ".join(f"{m} {n}" for m, n in table.drop_duplicates("measure")[["measure", "train_clients"]].itertuples(
        index=False))
    print(f"Split: intake before {split_used:%Y-%m-%d} = curves (discharged clients: {train}); on or after = test.")
    print(backtest_markdown(table) if args.markdown else backtest_rows(table).to_string(index=False))
    print(BACKTEST_NOTE)
    print(f"({time.perf_counter() - started:.2f} s)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks.bench import main as bench_main

    argv = ["--sizes", args.sizes, "--out", str(args.out)]
    if args.steps:
        argv += ["--steps", args.steps]
    if args.render_only:
        argv.append("--render-only")
    return bench_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m analytics", description="Between Sessions: clinic data tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("import", help="validate and import export files (CSV, .xlsx, Parquet, FHIR R4 .ndjson/.json)")
    p.add_argument("--db", required=True, type=Path, help="the clinic database file")
    p.add_argument("--profile", type=Path, help="mapping profile (TOML) of the record system")
    p.add_argument("--config", type=Path, help="settings file (TOML): measures, thresholds")
    p.add_argument(
        "--snapshot", choices=["clients"], default=None,
        help="the files are a full snapshot of every client they name: that client's stored rows absent from "
             "them are removed (kept in import_removed); default: additive, nothing is removed",
    )
    p.add_argument("--dry-run", action="store_true",
                   help="validate and report what the import would do, without writing to the database")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("summary", help="cohort summary: homework and outcomes per measure")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--clinic", action="append")
    p.add_argument("--therapist", action="append")
    p.add_argument("--program", action="append")
    p.add_argument("--config", type=Path)
    p.add_argument("--json", action="store_true", help="print the summary object as JSON")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("sample", help="generate the sample clinic and import it")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--clients", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--csv-dir", type=Path, help="keep the generated CSV export here")
    p.add_argument("--fhir-dir", type=Path, help="also write the clinic as a FHIR R4 Bulk Data export (NDJSON) here")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("backtest", help="early-warning back-test: off track at weeks 3, 4, 6 vs the final outcome")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--split", help="intake date (YYYY-MM-DD) that splits curves from test (default: 60%% of "
                                   "discharged clients before it)")
    p.add_argument("--config", type=Path)
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("bench", help="benchmarks at S/L/XL scale; writes docs/benchmarks.md")
    p.add_argument("--sizes", default="S,L,XL", help="comma-separated sizes: S, L, XL")
    p.add_argument("--steps", help="comma-separated steps: import, pages, browser, cold_start, baseline (default all)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md")
    p.add_argument("--render-only", action="store_true", help="rewrite the report from the last results")
    p.set_defaults(func=cmd_bench)

    from .users import register_users_commands  # users add|remove|list (analytics/cli/users.py)

    register_users_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..storage import DatabaseNotWritable

    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DatabaseNotWritable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_WRITABLE
