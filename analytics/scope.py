"""Who is looking (the viewer's scope) and which clients they asked for (the cohort filter).

Every query takes both; :func:`query_params` turns them into the bound parameters of the
``cohort_clients`` macro (analytics/sql/macros.sql). Enforcement lives here and in SQL,
never in the pages.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

ROLES = ("admin", "supervisor", "therapist", "qi")


@dataclass(frozen=True)
class Viewer:
    """The signed-in user (or the local single user) and what they may see.

    - admin: everything, imports data, manages users.
    - supervisor: the clients of their clinics (all clinics when ``clinics`` is empty).
    - therapist: their own caseload (``therapist_id``).
    - qi: de-identified aggregates only; no client ids, no free text.
    """

    role: str
    email: str = "local"
    clinics: tuple[str, ...] = ()
    therapist_id: str | None = None
    local_mode: bool = False

    def __post_init__(self) -> None:
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

    @property
    def scope_clinics(self) -> list[str] | None:
        if self.role == "supervisor" and self.clinics:
            return list(self.clinics)
        if self.role == "therapist" and self.clinics:
            return list(self.clinics)
        return None

    @property
    def scope_therapist(self) -> str | None:
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


def _list_or_none(values: tuple[str, ...] | list[str] | None) -> list[str] | None:
    return list(values) if values else None


def query_params(viewer: Viewer, cohort: CohortFilter | None = None, **extra: Any) -> dict[str, Any]:
    """Bound parameters for a query that starts from ``cohort_clients(...)``."""
    cohort = cohort or CohortFilter()
    params: dict[str, Any] = {
        "scope_clinics": viewer.scope_clinics,
        "scope_therapist": viewer.scope_therapist,
        "clinics": _list_or_none(cohort.clinics),
        "therapists": _list_or_none(cohort.therapists),
        "programs": _list_or_none(cohort.programs),
        "concerns": _list_or_none(cohort.concerns),
        "intake_from": cohort.intake_from,
        "intake_to": cohort.intake_to,
        "homework_types": _list_or_none(cohort.homework_types),
        "measures": _list_or_none(cohort.measures),
    }
    params.update(extra)
    return params
