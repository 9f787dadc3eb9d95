"""Who is looking (the viewer's scope) and which clients they asked for (the cohort filter).

Every query takes both; :func:`query_params` turns them into the bound parameters of the
``cohort_clients`` macro (analytics/sql/macros.sql). Enforcement lives here and in SQL,
never in the pages (docs/security.md, "Roles").

Scope rules, role by role (``Viewer.scope_clinics`` / ``Viewer.scope_therapist``):

- admin: every client; identifiers and free text.
- supervisor: the clients of their clinics; with **no** clinic listed, no client at all
  (an impossible filter, never "everything"); identifiers and free text.
- therapist: their own caseload (``therapist_id``), within ``clinics`` when listed;
  identifiers and free text of those clients only (the scope does it).
- qi: all clinics, or the listed ``clinics``; aggregates only: no identifiers, no free
  text (:meth:`Viewer.require_identifiers`, :meth:`Viewer.require_free_text`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

ROLES = ("admin", "supervisor", "therapist", "qi")


class AccessDenied(PermissionError):
    """The viewer's role does not allow this. The message never names a client."""


class IdentifiersNotPermitted(AccessDenied):
    """An identifiable (client-level) result was asked for by an aggregates-only viewer."""


class FreeTextNotPermitted(AccessDenied):
    """Free text (assignment descriptions) was asked for by a viewer who may not read it."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user (or the local single user) and what they may see.

    - admin: everything, imports data, manages users.
    - supervisor: the clients of their clinics; with no clinic listed, no client at all.
    - therapist: their own caseload (``therapist_id``), within ``clinics`` when listed.
    - qi: de-identified aggregates only (all clinics, or the listed ones); no client ids,
      no free text. Identifiable analytics functions call :meth:`require_identifiers`.
    """

    role: str
    email: str = "local"
    clinics: tuple[str, ...] = ()
    therapist_id: str | None = None
    local_mode: bool = False

    def __post_init__(self) -> None:
        # Hashable and exact: a list or a single string becomes a tuple of strings.
        clinics = (self.clinics,) if isinstance(self.clinics, str) else tuple(str(c) for c in self.clinics or ())
        object.__setattr__(self, "clinics", clinics)
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.role == "therapist" and not self.therapist_id:
            raise ValueError("a therapist viewer needs a therapist_id")

    @classmethod
    def local(cls) -> Viewer:
        """Local single-user mode: full access on this machine only."""
        return cls(role="admin", email="local", local_mode=True)

    @property
    def can_see_identifiers(self) -> bool:
        return self.role != "qi"

    @property
    def can_see_free_text(self) -> bool:
        """Descriptions: only the client's own therapist and supervisors (and admins)."""
        return self.role in ("admin", "supervisor", "therapist")

    @property
    def can_import(self) -> bool:
        return self.role == "admin"

    def require_identifiers(self) -> None:
        """Raise :class:`IdentifiersNotPermitted` unless the viewer may see client-level rows.

        Every analytics function that returns client ids (or anything per client) calls
        this first; aggregate functions do not.
        """
        if not self.can_see_identifiers:
            raise IdentifiersNotPermitted("this view shows individual clients; your role sees aggregates only")

    def require_free_text(self) -> None:
        """Raise :class:`FreeTextNotPermitted` unless the viewer may read free-text descriptions."""
        if not self.can_see_free_text:
            raise FreeTextNotPermitted("free-text descriptions are not available for your role")

    @property
    def scope_clinics(self) -> list[str] | None:
        """The clinics the viewer is limited to: None = no clinic limit, [] = no clinic at all.

        An empty list is an impossible filter in SQL (``list_contains([], clinic)`` is false),
        so a supervisor with no clinic listed sees nothing rather than everything.
        """
        if self.role == "admin":
            return None
        if self.role == "supervisor":
            return list(self.clinics)
        # therapist: the caseload is the limit, clinics narrow it further when listed;
        # qi: organisation-wide aggregates unless clinics are listed.
        return list(self.clinics) if self.clinics else None

    @property
    def scope_therapist(self) -> str | None:
        """The therapist whose caseload is the limit (therapists only), else None."""
        return self.therapist_id if self.role == "therapist" else None


@dataclass(frozen=True)
class CohortFilter:
    """Which clients (and which of their rows) a view covers. Empty means "all"."""

    clinics: tuple[str, ...] = ()
    therapists: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    intake_from: date | None = None
    intake_to: date | None = None
    homework_types: tuple[str, ...] = ()  # restricts the assignments counted, not the clients
    measures: tuple[str, ...] = ()  # restricts the measures reported

    @classmethod
    def of(cls, **kwargs: Any) -> CohortFilter:
        """Build from loose values: a single string becomes a one-item tuple, None is dropped."""
        clean: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"unknown filter {key!r}")
            if value is None or value == "" or value == ():
                continue
            if key in ("intake_from", "intake_to"):
                clean[key] = value if isinstance(value, date) else date.fromisoformat(str(value))
            elif isinstance(value, str):
                clean[key] = (value,)
            else:
                clean[key] = tuple(str(v) for v in value)
        return cls(**clean)

    def with_(self, **changes: Any) -> CohortFilter:
        return replace(self, **changes)


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    following = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    return following - timedelta(days=1)


def coarsen_cohort(cohort: CohortFilter) -> CohortFilter:
    """The cohort with whole-month intake bounds: ``intake_from`` moves to the first day of its
    month, ``intake_to`` to the last day of its month (reversed bounds are put in order).

    De-identified viewers get only this (:func:`cohort_for`): two filters one day apart would
    otherwise differ by the clients of that day, and the difference of two tables whose cells
    are all 11 or more can still be one client (issue 10, item 4; docs/security.md,
    "De-identified views").
    """
    start, end = (d.date() if isinstance(d, datetime) else d for d in (cohort.intake_from, cohort.intake_to))
    if start and end and start > end:
        start, end = end, start
    coarse_start = month_start(start) if start else None
    coarse_end = month_end(end) if end else None
    if (coarse_start, coarse_end) == (cohort.intake_from, cohort.intake_to):
        return cohort
    return replace(cohort, intake_from=coarse_start, intake_to=coarse_end)


def cohort_for(viewer: Viewer, cohort: CohortFilter | None) -> CohortFilter:
    """The cohort a viewer's queries use: as asked, or whole months for de-identified viewers
    (those who may not see identifiers; :func:`coarsen_cohort`)."""
    cohort = cohort or CohortFilter()
    return cohort if viewer.can_see_identifiers else coarsen_cohort(cohort)


def _list_or_none(values: tuple[str, ...] | list[str] | None) -> list[str] | None:
    return list(values) if values else None


_SCOPE_KEYS = frozenset({"cohort", "scope_clinics", "scope_therapist"})


def query_params(viewer: Viewer, cohort: CohortFilter | None = None, **extra: Any) -> dict[str, Any]:
    """Bound parameters for a query that starts from ``cohort_clients($cohort)``.

    ``cohort`` is one STRUCT (the viewer's scope and the cohort filters; see the macro in
    analytics/sql/macros.sql), so a query cannot take the filters without the scope. A
    de-identified viewer's intake bounds are whole months (:func:`cohort_for`), whatever the
    caller passed."""
    cohort = cohort_for(viewer, cohort)
    params: dict[str, Any] = {
        "cohort": {
            "scope_clinics": viewer.scope_clinics,
            "scope_therapist": viewer.scope_therapist,
            "clinics": _list_or_none(cohort.clinics),
            "therapists": _list_or_none(cohort.therapists),
            "programs": _list_or_none(cohort.programs),
            "concerns": _list_or_none(cohort.concerns),
            "intake_from": cohort.intake_from,
            "intake_to": cohort.intake_to,
        },
        "homework_types": _list_or_none(cohort.homework_types),
        "measures": _list_or_none(cohort.measures),
        "client_id": None,  # one client only (client review); None = every client of the cohort
    }
    overridden = _SCOPE_KEYS & extra.keys()
    if overridden:
        raise ValueError(f"the viewer's scope cannot be overridden ({sorted(overridden)})")
    params.update(extra)
    return params
