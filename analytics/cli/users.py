"""``python -m analytics users add|remove|list``: manage who may use the dashboard.

Examples::

    python -m analytics users add --db clinic.duckdb ana@clinic.org --role therapist --therapist-id T07
    python -m analytics users add --db clinic.duckdb sam@clinic.org --role supervisor --clinic North --clinic South
    python -m analytics users remove --db clinic.duckdb ana@clinic.org
    python -m analytics users list --db clinic.duckdb [--json]

Exit status: 0 success; 1 nothing to do (remove of an unknown user, list of a missing
database); 2 invalid input (bad e-mail, unknown role, a therapist without therapist id).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..scope import ROLES
from .common import error, open_for_reading


def cmd_users_add(args: argparse.Namespace) -> int:
    from ..access import add_user

    try:
        change = add_user(args.db, args.email, args.role, clinics=args.clinic or (), therapist_id=args.therapist_id)
    except ValueError as exc:
        return error(exc, 2)
    v = change.viewer
    limits = []
    if v.clinics:
        limits.append(f"clinics {', '.join(v.clinics)}")
    if v.therapist_id:
        limits.append(f"therapist_id {v.therapist_id}")
    print(f"{'Added' if change.created else 'Updated'} {v.email} as {v.role}" + (f" ({'; '.join(limits)})" if limits else ""))
    for note in change.warnings:
        print(f"warning: {note}", file=sys.stderr)
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    from ..access import normalise_email, remove_user

    try:
        address = normalise_email(args.email)
    except ValueError as exc:
        return error(exc, 2)
    if not remove_user(args.db, address):
        print(f"no user {address} in {args.db}", file=sys.stderr)
        return 1
    print(f"Removed {address}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from ..access import user_rows
    db = open_for_reading(args.db)
    if db is None:
        return 1
    with db:
        users = user_rows(db)
    records = [
        {
            "email": r["email"],
            "role": r["role"],
            "clinics": [str(c) for c in (r["clinics"] or [])],
            "therapist_id": r["therapist_id"] if isinstance(r["therapist_id"], str) else None,
            "added_at": r["added_at"].isoformat(),
        }
        for r in users
    ]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("No users. Add one with: python -m analytics users add --db PATH EMAIL --role ROLE")
        return 0
    width = max(len(r["email"]) for r in records) + 2
    print("email".ljust(width) + "role".ljust(12) + "clinics / therapist_id")
    for r in records:
        scope = ", ".join(r["clinics"]) if r["clinics"] else ""
        if r["therapist_id"]:
            scope = f"{scope}; therapist {r['therapist_id']}" if scope else f"therapist {r['therapist_id']}"
        print(r["email"].ljust(width) + r["role"].ljust(12) + (scope or "-"))
    return 0


def register_users_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``users add|remove|list`` to the ``python -m analytics`` subcommands."""
    users = sub.add_parser("users", help="dashboard users and roles: add, remove, list")
    actions = users.add_subparsers(dest="users_command", required=True, parser_class=type(users))

    p = actions.add_parser("add", help="add a user or change their role")
    p.add_argument("--db", required=True, type=Path, help="the clinic database file")
    p.add_argument("email", help="the address the user signs in with (case does not matter)")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--clinic", action="append", help="a clinic the user is limited to (repeat for more)")
    p.add_argument("--therapist-id", help="therapist only: their therapist_id in the clients table")
    p.set_defaults(func=cmd_users_add)

    p = actions.add_parser("remove", help="remove a user (they see 'no access' from their next page load)")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("email")
    p.set_defaults(func=cmd_users_remove)

    p = actions.add_parser("list", help="list users and roles")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--json", action="store_true", help="print the users as JSON")
    p.set_defaults(func=cmd_users_list)
