"""FHIR R4 import: Bulk Data NDJSON and Bundles turned into rows of the import format.

The resources are parsed and validated by the ``fhir.resources`` models (its R4B package,
which reads R4 resources), then mapped onto the four tables of docs/import-format.md
(mapping table: docs/import-format.md, "FHIR R4"). The rows are handed to the ordinary
importer (analytics/ingest/importer.py), so the same rules, rejects, duplicate handling, atomic
swap and batch history apply as for CSV.

Where a row comes from is kept: the file, the NDJSON line (from 1) or the Bundle entry
index (from 0), and for every column the FHIR element it was read from, so that a reject
names the element path and the rule. A resource that cannot be parsed, or that breaks a
rule only FHIR has (an unresolvable subject, a QuestionnaireResponse whose items do not
add up to its stated total), is rejected here with the same details. Resource types this
import does not use are skipped and counted per file. Nothing that cannot be mapped is
guessed: it is reported.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import Settings

# Our own FHIR profile (docs/import-format.md, "FHIR R4"): code systems and extensions.
FHIR_BASE = "https://between-sessions.dev/fhir"
CS_TASK_KIND = f"{FHIR_BASE}/CodeSystem/task-kind"  # code "homework": a between-session assignment
CS_HOMEWORK_TYPE = f"{FHIR_BASE}/CodeSystem/homework-type"  # our homework types
CS_HOMEWORK_FIELD = f"{FHIR_BASE}/CodeSystem/homework-field"  # Task.input / Task.output types
CS_MEASURE = f"{FHIR_BASE}/CodeSystem/measure"  # code = a configured measure name (CORE-10, ...)
EXT_SESSION_NUMBER = f"{FHIR_BASE}/StructureDefinition/session-number"  # Encounter, valueInteger
EXT_NO_SHOW = f"{FHIR_BASE}/StructureDefinition/no-show"  # Encounter, valueBoolean true = missed
# CarePlan.activity.detail: one sub-extension per homework field (url = our column name).
EXT_HOMEWORK_FIELDS = f"{FHIR_BASE}/StructureDefinition/homework-fields"
LOINC = "http://loinc.org"

# LOINC: total scores, panels and items (item order = the questionnaire's item order).
TOTAL_CODES = {"44261-6": "PHQ-9", "70274-6": "GAD-7"}
PANEL_CODES = {"44249-1": "PHQ-9", "69737-5": "GAD-7"}
ITEM_CODES = {
    "PHQ-9": ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"),
    "GAD-7": ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
}
# LOINC answer list LL358-3 (PHQ-9 and GAD-7 items): answer code -> item score.
ANSWER_SCORES = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}
ORDINAL_EXTENSIONS = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
)
# Homework fields carried in Task.input (set at assignment) and Task.output (the review).
TASK_INPUTS = ("goal_linked", "rationale_given", "rehearsed_in_session", "practice_scheduled",
               "obstacles_planned", "involves_others", "planned_practices")
TASK_OUTPUTS = ("completed_practices", "quantity_rating", "quality_rating", "rated_by")

# Resource types this import reads; every other type is skipped and counted.
MAPPED_TYPES = ("Patient", "EpisodeOfCare", "Encounter", "Observation", "QuestionnaireResponse", "Task", "CarePlan")
HOMEWORK_SOURCES = ("Task", "CarePlan")
SUPPORTING_TYPES = ("Organization", "Practitioner", "CareTeam", "Questionnaire")
BUNDLE_TYPES = ("collection", "transaction", "searchset", "batch")
THERAPIST_SOURCES = ("generalPractitioner", "careTeam", "episodeOfCare", "encounter")
FHIR_SUFFIXES = (".ndjson", ".json")


class FhirFileRefused(Exception):
    """A whole FHIR file cannot be used (not JSON, not a Bundle, an unsupported Bundle type)."""


@dataclass(frozen=True)
class FhirOptions:
    """The ``[fhir]`` section of a mapping profile (docs/import-format.md, "FHIR R4")."""

    client_identifier_system: str | None = None  # None: client_id = Patient.id
    therapist_from: tuple[str, ...] = THERAPIST_SOURCES  # tried in this order
    measure_codes: dict[str, str] = field(default_factory=dict)  # "system|code" -> measure
    questionnaires: dict[str, str] = field(default_factory=dict)  # canonical URL -> measure
    homework_codes: tuple[str, ...] = (f"{CS_TASK_KIND}|homework",)  # "system|code" on Task.code
    homework_from: tuple[str, ...] = ("Task",)  # Task and/or CarePlan (CarePlan.activity.detail)

    @classmethod
    def from_section(cls, section: dict | None, where: str = "profile") -> FhirOptions:
        section = dict(section or {})
        known = {"client_identifier_system", "therapist_from", "measure_codes", "questionnaires", "homework_codes",
                 "homework_from"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"{where}: [fhir] has unknown key {unknown[0]!r}; expected {', '.join(sorted(known))}")
        therapist_from = tuple(section.get("therapist_from", THERAPIST_SOURCES))
        bad = [s for s in therapist_from if s not in THERAPIST_SOURCES]
        if bad:
            raise ValueError(f"{where}: [fhir] therapist_from names {bad[0]!r}; expected some of "
                             f"{', '.join(THERAPIST_SOURCES)}")
        homework_from = tuple(section.get("homework_from", ("Task",)))
        if not homework_from or any(h not in HOMEWORK_SOURCES for h in homework_from):
            raise ValueError(f"{where}: [fhir] homework_from must name Task and/or CarePlan")
        for key in ("measure_codes", "questionnaires"):
            if not isinstance(section.get(key, {}), dict):
                raise ValueError(f"{where}: [fhir.{key}] must be a table")
        return cls(
            client_identifier_system=section.get("client_identifier_system"),
            therapist_from=therapist_from,
            measure_codes={str(k): str(v) for k, v in section.get("measure_codes", {}).items()},
            questionnaires={str(k): str(v) for k, v in section.get("questionnaires", {}).items()},
            homework_codes=tuple(section.get("homework_codes", cls.homework_codes)),
            homework_from=homework_from,
        )


@dataclass
class Located:
    """One resource of one file: where it is, its JSON, and its parsed model (None until parsed)."""

    file_name: str
    index: int  # NDJSON line from 1, or Bundle entry index from 0
    in_bundle: bool
    data: dict
    model: object | None = None
    full_url: str | None = None  # Bundle.entry.fullUrl (references may use it)

    @property
    def rtype(self) -> str:
        return str(self.data.get("resourceType") or "")

    def path(self, element: str = "") -> str:
        base = f"Bundle.entry[{self.index}].resource" if self.in_bundle else (self.rtype or "(resource)")
        if self.in_bundle and self.rtype and element:
            base = f"{base}({self.rtype})"
        return f"{base}.{element}" if element else base

    @property
    def raw(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, sort_keys=True)


@dataclass
class FhirReject:
    file_name: str
    index: int
    in_bundle: bool
    table: str | None
    path: str
    value: str | None
    rule: str
    raw: str


@dataclass
class FhirRow:
    loc: Located
    values: dict[str, str | None]
    paths: dict[str, str]


@dataclass
class FhirRead:
    """Everything read from the FHIR files of one import run."""

    rows: dict[str, list[FhirRow]] = field(default_factory=dict)  # table -> rows
    rejects: list[FhirReject] = field(default_factory=list)
    skipped: dict[str, Counter] = field(default_factory=dict)  # file -> resource type -> count
    refused: dict[str, str] = field(default_factory=dict)  # file -> message
    resources: dict[str, int] = field(default_factory=dict)  # file -> resources read

    def reject(self, loc: Located, table: str | None, element: str, rule: str, value: object = None) -> None:
        self.rejects.append(FhirReject(loc.file_name, loc.index, loc.in_bundle, table, loc.path(element),
                                       None if value is None else str(value), rule, loc.raw))

    def skip(self, loc: Located, why: str) -> None:
        self.skipped.setdefault(loc.file_name, Counter())[why] += 1


def is_fhir_file(path: Path) -> bool:
    return path.suffix.lower() in FHIR_SUFFIXES


# ---------------------------------------------------------------------------------------
# Reading files


def read_file(path: Path, display_name: str, read: FhirRead) -> list[Located]:
    """The resources of one NDJSON file (one per line) or one Bundle (its entries)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FhirFileRefused("the file is not UTF-8 text") from None
    except OSError as exc:
        raise FhirFileRefused(f"the file cannot be read ({exc.strerror or type(exc).__name__})") from None
    out: list[Located] = []
    if path.suffix.lower() == ".ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                read.rejects.append(FhirReject(display_name, number, False, None, "(line)", None,
                                               f"not valid JSON ({exc.msg} at column {exc.colno})", json.dumps(line[:2000])))
                continue
            if not isinstance(data, dict) or "resourceType" not in data:
                read.rejects.append(FhirReject(display_name, number, False, None, "resourceType", None,
                                               "not a FHIR resource: no resourceType", json.dumps(data)[:100_000]))
                continue
            out.append(Located(display_name, number, False, data))
        if not out and not any(r.file_name == display_name for r in read.rejects):
            raise FhirFileRefused("the file holds no FHIR resources")
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FhirFileRefused(f"the file is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not data.get("resourceType"):
        raise FhirFileRefused("a .json file must hold a FHIR Bundle or one FHIR resource (no resourceType found)")
    if data.get("resourceType") != "Bundle":  # one resource (an example file): located as line 1
        return [Located(display_name, 1, False, data)]
    btype = data.get("type")
    if btype not in BUNDLE_TYPES:
        raise FhirFileRefused(f"Bundle.type {btype!r} is not imported; expected one of {', '.join(BUNDLE_TYPES)}")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise FhirFileRefused("Bundle.entry is not a list")
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            read.rejects.append(FhirReject(display_name, index, True, None, f"Bundle.entry[{index}].resource", None,
                                           "the entry holds no FHIR resource", json.dumps(entry)[:100_000]))
            continue
        full_url = entry.get("fullUrl")
        out.append(Located(display_name, index, True, resource, full_url=full_url if isinstance(full_url, str) else None))
    return out


def _model_class(rtype: str):
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(rtype)


def _validation_rejects(loc: Located, exc, read: FhirRead, table: str | None) -> None:
    """One reject per failure the fhir.resources model reports (element path and rule)."""
    for error in exc.errors()[:20]:
        element = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__")
        value = error.get("input")
        shown = value if isinstance(value, str | int | float | bool) else None
        read.reject(loc, table, element, f"not valid FHIR R4: {error.get('msg')}", shown)


TABLE_OF_TYPE = {"Patient": "clients", "EpisodeOfCare": "clients", "Encounter": "sessions",
                 "Observation": "scores", "QuestionnaireResponse": "scores", "Task": "assignments",
                 "CarePlan": "assignments"}


def parse(resources: list[Located], read: FhirRead) -> list[Located]:
    """Validate the resources this import uses with the fhir.resources models; others are
    skipped and counted. Returns the parsed ones."""
    from pydantic import ValidationError

    parsed = []
    for loc in resources:
        rtype = loc.rtype
        if rtype not in MAPPED_TYPES and rtype not in SUPPORTING_TYPES:
            read.skip(loc, rtype or "(no resourceType)")
            continue
        try:
            loc.model = _model_class(rtype).model_validate(loc.data)
        except ValidationError as exc:
            _validation_rejects(loc, exc, read, TABLE_OF_TYPE.get(rtype))
            continue
        parsed.append(loc)
    return parsed


# ---------------------------------------------------------------------------------------
# Helpers on parsed models


def _codings(concept) -> list:
    if concept is None:
        return []
    concepts = concept if isinstance(concept, list) else [concept]
    return [c for cc in concepts for c in (cc.coding or [])]


def _has_code(concept, keys: tuple[str, ...] | set[str]) -> bool:
    return any(f"{c.system}|{c.code}" in keys for c in _codings(concept))


_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


class _Index:
    """The run's resources by ``Type/id`` and by Bundle fullUrl, to resolve references."""

    def __init__(self, parsed: list[Located]):
        self.by_key: dict[str, Located] = {}
        self.by_url: dict[str, Located] = {}
        for loc in parsed:
            rid = getattr(loc.model, "id", None)
            if rid:
                self.by_key.setdefault(f"{loc.rtype}/{rid}", loc)
            if loc.full_url:
                self.by_url.setdefault(loc.full_url, loc)

    def key(self, reference: str | None) -> str | None:
        """``Type/id`` of a reference (relative, absolute or a Bundle fullUrl), or None."""
        if not reference:
            return None
        loc = self.by_url.get(reference)
        if loc is not None and getattr(loc.model, "id", None):
            return f"{loc.rtype}/{loc.model.id}"
        m = _REF.search(reference)
        return f"{m.group(1)}/{m.group(2)}" if m else None

    def get(self, reference: str | None) -> Located | None:
        if reference in self.by_url:
            return self.by_url[reference]
        key = self.key(reference)
        return self.by_key.get(key) if key else None


def _ref_id(index: _Index, ref, rtype: str) -> str | None:
    """The id a reference names, for a resource of ``rtype``; a conditional reference
    ``Type?identifier=system|value`` gives the value."""
    if ref is None or not ref.reference:
        return None
    text = ref.reference
    if text.startswith(f"{rtype}?identifier="):
        return text.split("|", 1)[-1] or None
    key = index.key(text)
    if key and key.startswith(f"{rtype}/"):
        return key.split("/", 1)[1]
    return None


def clinic_date(value, zone: ZoneInfo) -> dt.date | None:
    """A FHIR date or dateTime as the clinic's local date; None when only a year or month."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return None
        return value.astimezone(zone).date()
    if isinstance(value, dt.date):
        return value
    return None


def _whole(value) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


# ---------------------------------------------------------------------------------------
# Mapping


class _Mapper:
    def __init__(self, parsed: list[Located], read: FhirRead, settings: Settings, options: FhirOptions):
        self.read = read
        self.settings = settings
        self.options = options
        self.index = _Index(parsed)
        self.zone = ZoneInfo(settings.clinic_timezone)
        self.by_type: dict[str, list[Located]] = {}
        for loc in parsed:
            self.by_type.setdefault(loc.rtype, []).append(loc)
        self.measure_codes = {f"{LOINC}|{code}": name for code, name in TOTAL_CODES.items()}
        self.measure_codes.update({f"{CS_MEASURE}|{m.name}": m.name for m in settings.measures})
        self.measure_codes.update(options.measure_codes)
        self.item_codes = {f"{LOINC}|{code}": (name, i) for name, codes in ITEM_CODES.items()
                           for i, code in enumerate(codes, start=1)}

    # -- clients -------------------------------------------------------------------------
    def patient_client_ids(self) -> dict[str, str | None]:
        """Patient id -> client_id (the id, or the identifier of the configured system)."""
        out: dict[str, str | None] = {}
        system = self.options.client_identifier_system
        for loc in self.by_type.get("Patient", []):
            pid = loc.model.id
            if system is None:
                out[pid] = pid
            else:
                values = [i.value for i in (loc.model.identifier or []) if i.system == system and i.value]
                out[pid] = values[0] if values else None
        return out

    def client_of(self, loc: Located, ref, element: str, table: str, clients: dict[str, str | None]) -> str | None:
        """The client_id a subject reference names; a reject when it cannot be told."""
        if ref is None or not ref.reference:
            self.read.reject(loc, table, element, "required: a reference to the Patient")
            return None
        pid = _ref_id(self.index, ref, "Patient")
        if pid is None:
            self.read.reject(loc, table, element, "does not reference a Patient", ref.reference)
            return None
        if self.options.client_identifier_system is None:
            return pid
        if pid not in clients:
            self.read.reject(loc, table, element, "the Patient is not in these files, so its identifier of system "
                             f"{self.options.client_identifier_system} (setting client_identifier_system) is unknown",
                             ref.reference)
            return None
        return clients[pid]

    def _organization_name(self, ref) -> str | None:
        if ref is None:
            return None
        target = self.index.get(ref.reference) if ref.reference else None
        if target is not None and target.rtype == "Organization" and target.model.name:
            return target.model.name
        if ref.display:
            return ref.display
        return _ref_id(self.index, ref, "Organization")

    def clients(self) -> list[FhirRow]:
        clients = self.patient_client_ids()
        episodes: dict[str, list[Located]] = {}
        for loc in self.by_type.get("EpisodeOfCare", []):
            pid = _ref_id(self.index, loc.model.patient, "Patient")
            if pid is None:
                self.read.reject(loc, "clients", "patient", "does not reference a Patient",
                                 loc.model.patient.reference if loc.model.patient else None)
                continue
            episodes.setdefault(pid, []).append(loc)
        encounters: dict[str, list[tuple[dt.date, Located]]] = {}
        for loc in self.by_type.get("Encounter", []):
            pid = _ref_id(self.index, loc.model.subject, "Patient")
            start = clinic_date(loc.model.period.start, self.zone) if loc.model.period else None
            if pid and start:
                encounters.setdefault(pid, []).append((start, loc))
        for items in encounters.values():
            items.sort(key=lambda t: (t[0], t[1].file_name, t[1].index))
        care_teams: dict[str, list[Located]] = {}
        for loc in self.by_type.get("CareTeam", []):
            pid = _ref_id(self.index, loc.model.subject, "Patient")
            if pid:
                care_teams.setdefault(pid, []).append(loc)
        rows = []
        for loc in self.by_type.get("Patient", []):
            p = loc.model
            paths: dict[str, str] = {}
            values: dict[str, str | None] = {}
            system = self.options.client_identifier_system
            values["client_id"] = clients[p.id]
            paths["client_id"] = loc.path(f"identifier.where(system='{system}').value" if system else "id")
            eps = sorted(episodes.get(p.id, []), key=lambda e: (str(e.model.period.start) if e.model.period else ""))
            first_enc = encounters.get(p.id, [None])[0]
            # Clinic: the managing organisation, else the episode's, else the first encounter's provider.
            clinic, clinic_path = None, "managingOrganization"
            if p.managingOrganization:
                clinic = self._organization_name(p.managingOrganization)
            elif eps and eps[0].model.managingOrganization:
                clinic, clinic_path = self._organization_name(eps[0].model.managingOrganization), \
                    f"{eps[0].path('managingOrganization')} (the Patient's EpisodeOfCare)"
            elif first_enc and first_enc[1].model.serviceProvider:
                clinic, clinic_path = self._organization_name(first_enc[1].model.serviceProvider), \
                    f"{first_enc[1].path('serviceProvider')} (the Patient's first Encounter)"
            values["clinic"], paths["clinic"] = clinic, loc.path(clinic_path) if clinic_path == "managingOrganization" \
                else clinic_path
            therapist, therapist_path = None, loc.path(" | ".join(self.options.therapist_from))
            for source in self.options.therapist_from:
                found = None
                if source == "generalPractitioner":
                    found = next((_ref_id(self.index, r, "Practitioner") for r in (p.generalPractitioner or [])
                                  if _ref_id(self.index, r, "Practitioner")), None)
                    where = loc.path("generalPractitioner")
                elif source == "careTeam":
                    for team in care_teams.get(p.id, []):
                        found = next((_ref_id(self.index, m.member, "Practitioner") for m in (team.model.participant or [])
                                      if _ref_id(self.index, m.member, "Practitioner")), None)
                        where = team.path("participant.member")
                        if found:
                            break
                elif source == "episodeOfCare" and eps:
                    found = _ref_id(self.index, eps[0].model.careManager, "Practitioner")
                    where = eps[0].path("careManager")
                elif source == "encounter" and first_enc:
                    found = next((_ref_id(self.index, part.individual, "Practitioner")
                                  for part in (first_enc[1].model.participant or [])
                                  if _ref_id(self.index, part.individual, "Practitioner")), None)
                    where = first_enc[1].path("participant.individual")
                if found:
                    therapist, therapist_path = found, where
                    break
            values["therapist_id"], paths["therapist_id"] = therapist, therapist_path
            values["program"] = values["primary_concern"] = None
            if eps:
                e = eps[0]
                start = clinic_date(e.model.period.start, self.zone) if e.model.period else None
                values["intake_date"], paths["intake_date"] = _iso(start), e.path("period.start")
                ends = [clinic_date(x.model.period.end, self.zone) if x.model.period and x.model.period.end else None
                        for x in eps]
                finished = all(x.model.status in ("finished", "cancelled") for x in eps) and all(ends)
                values["discharge_date"] = _iso(max(ends)) if finished else None
                paths["discharge_date"] = eps[-1].path("period.end")
                if e.model.type:
                    t = e.model.type[0]
                    values["program"] = t.text or next((c.display or c.code for c in (t.coding or [])), None)
                    paths["program"] = e.path("type[0]")
                if e.model.diagnosis:
                    d = sorted(e.model.diagnosis, key=lambda x: x.rank or 0)[0]
                    values["primary_concern"] = d.condition.display if d.condition else None
                    paths["primary_concern"] = e.path("diagnosis.condition.display")
            elif first_enc:
                values["intake_date"], paths["intake_date"] = _iso(first_enc[0]), \
                    f"{first_enc[1].path('period.start')} (the Patient's first Encounter; no EpisodeOfCare)"
                values["discharge_date"] = None
            else:
                values["intake_date"], paths["intake_date"] = None, loc.path("(EpisodeOfCare.period.start or the first Encounter)")
                values["discharge_date"] = None
            rows.append(FhirRow(loc, values, paths))
        self._clients = clients
        return rows

    # -- sessions ------------------------------------------------------------------------
    def sessions(self) -> list[FhirRow]:
        rows = []
        for loc in self.by_type.get("Encounter", []):
            e = loc.model
            client = self.client_of(loc, e.subject, "subject", "sessions", self._clients)
            if client is None:
                continue
            no_show = any(x.url == EXT_NO_SHOW and x.valueBoolean for x in (e.extension or []))
            if e.status == "finished" and not no_show:
                attended = "true"
            elif e.status in ("cancelled", "entered-in-error") or no_show:
                attended = "false"
            else:
                self.read.reject(loc, "sessions", "status", "not a held or missed session: only finished "
                                 "(attended), cancelled, entered-in-error or the no-show extension (missed) are sessions",
                                 e.status)
                continue
            start = e.period.start if e.period else None
            day = clinic_date(start, self.zone)
            number = next((x.valueInteger for x in (e.extension or []) if x.url == EXT_SESSION_NUMBER), None)
            values = {"client_id": client, "session_date": _iso(day), "attended": attended,
                      "session_number": None if number is None else str(number)}
            if start is not None and day is None:
                values["session_date"] = str(start)
            paths = {"client_id": loc.path("subject"), "session_date": loc.path("period.start"),
                     "attended": loc.path("status"), "session_number": loc.path(f"extension('{EXT_SESSION_NUMBER}')")}
            rows.append(FhirRow(loc, values, paths))
        return rows

    # -- scores --------------------------------------------------------------------------
    def _measure_of(self, concept) -> str | None:
        for c in _codings(concept):
            name = self.measure_codes.get(f"{c.system}|{c.code}")
            if name:
                return name
        return None

    def scores(self) -> list[FhirRow]:
        rows: dict[tuple, FhirRow] = {}
        items: list[tuple[Located, str, str, int, int, str]] = []
        for loc in self.by_type.get("Observation", []):
            o = loc.model
            measure = self._measure_of(o.code)
            item = next((self.item_codes[f"{c.system}|{c.code}"] for c in _codings(o.code)
                         if f"{c.system}|{c.code}" in self.item_codes), None)
            if measure is None and item is None:
                self.read.skip(loc, "Observation (not a configured measure)")
                continue
            if o.status in ("cancelled", "entered-in-error"):
                self.read.skip(loc, f"Observation (status {o.status})")
                continue
            if o.status not in ("final", "amended", "corrected"):
                self.read.reject(loc, "scores", "status", "only final, amended or corrected results are imported", o.status)
                continue
            client = self.client_of(loc, o.subject, "subject", "scores", self._clients)
            if client is None:
                continue
            when, when_path = o.effectiveDateTime, "effectiveDateTime"
            if when is None and o.effectivePeriod is not None:
                when, when_path = o.effectivePeriod.start, "effectivePeriod.start"
            if when is None and o.effectiveInstant is not None:
                when, when_path = o.effectiveInstant, "effectiveInstant"
            day = clinic_date(when, self.zone)
            if day is None:
                self.read.reject(loc, "scores", when_path if when is not None else "effective[x]",
                                 "required: the date the measure was taken (a full date or dateTime)", when)
                continue
            if o.valueInteger is not None:
                value, value_path = _whole(o.valueInteger), "valueInteger"
            elif measure is None and o.valueCodeableConcept is not None and _answer_code_score(o.valueCodeableConcept) \
                    is not None:  # an item Observation answered with a LOINC answer code (LL358-3)
                value, value_path = _answer_code_score(o.valueCodeableConcept), "valueCodeableConcept"
            elif o.valueQuantity is not None:
                value, value_path = _whole(o.valueQuantity.value), "valueQuantity.value"
                if value is None:
                    self.read.reject(loc, "scores", value_path, "not a whole number", o.valueQuantity.value)
                    continue
            else:
                found = next((k for k in loc.data if k.startswith("value")), None)
                self.read.reject(loc, "scores", found or "value[x]",
                                 "a score must be valueInteger or valueQuantity" + (f" (found {found})" if found else ""),
                                 loc.data.get(found) if found else None)
                continue
            if measure is None:
                name, position = item
                items.append((loc, client, name, position, value, _iso(day)))
                continue
            values = {"client_id": client, "measure": measure, "administered_date": _iso(day),
                      "total_score": str(value)}
            paths = {"client_id": loc.path("subject"), "measure": loc.path("code"),
                     "administered_date": loc.path(when_path), "total_score": loc.path(value_path)}
            rows[(client, measure, _iso(day), loc.file_name, loc.index)] = FhirRow(loc, values, paths)
        # Item Observations (PHQ-9 item 9, 44260-8, and the other LOINC items) join the total of
        # the same client, measure and day.
        by_day: dict[tuple, list[FhirRow]] = {}
        for key, row in rows.items():
            by_day.setdefault(key[:3], []).append(row)
        for loc, client, name, position, value, day in items:
            targets = by_day.get((client, name, day), [])
            if not targets:
                self.read.reject(loc, "scores", "code", f"{name} item {position} without a {name} total score "
                                 "Observation for the same client on the same day", loc.model.code.coding[0].code)
                continue
            targets[0].values[f"item_{position}"] = str(value)
            targets[0].paths[f"item_{position}"] = loc.path("value[x]")
        out = list(rows.values())
        out.extend(self.questionnaire_scores())
        return out

    def _questionnaire(self, loc: Located) -> Located | None:
        ref = loc.model.questionnaire
        if not ref:
            return None
        if ref.startswith("#"):
            return None
        url = ref.split("|", 1)[0]
        for q in self.by_type.get("Questionnaire", []):
            if q.model.url == url or f"Questionnaire/{q.model.id}" == url or url.endswith(f"/Questionnaire/{q.model.id}"):
                return q
        return None

    def questionnaire_scores(self) -> list[FhirRow]:
        rows = []
        for loc in self.by_type.get("QuestionnaireResponse", []):
            row = self._score_response(loc)
            if row is not None:
                rows.append(row)
        return rows

    def _score_response(self, loc: Located) -> FhirRow | None:
        qr = loc.model
        questionnaire = self._questionnaire(loc)
        q_items: dict[str, object] = {}
        if questionnaire is not None:
            _flatten_questionnaire(questionnaire.model.item or [], q_items)
        canonical = (qr.questionnaire or "").split("|", 1)[0]
        measure = self.options.questionnaires.get(canonical)
        if measure is None and questionnaire is not None:
            measure = next((PANEL_CODES[c.code] for c in (questionnaire.model.code or [])
                            if c.system == LOINC and c.code in PANEL_CODES), None)
        answered: list[tuple[str, object, str]] = []  # linkId, item, element path
        _flatten_response(qr.item or [], "item", answered)

        def code_of(link_id: str) -> set[str]:
            codes = {f"{LOINC}|{link_id.lstrip('/')}"}
            q_item = q_items.get(link_id)
            if q_item is not None:
                codes |= {f"{c.system}|{c.code}" for c in (q_item.code or [])}
            return codes

        if measure is None:
            for link_id, _, _ in answered:
                for key in code_of(link_id):
                    if key in self.measure_codes:
                        measure = self.measure_codes[key]
                        break
                    if key.split("|", 1)[1] in PANEL_CODES and key.startswith(LOINC):
                        measure = PANEL_CODES[key.split("|", 1)[1]]
                        break
                if measure:
                    break
            if measure is None:
                for link_id, _, _ in answered:
                    hits = [self.item_codes[k][0] for k in code_of(link_id) if k in self.item_codes]
                    if hits:
                        measure = hits[0]
                        break
        if measure is None:
            self.read.skip(loc, "QuestionnaireResponse (not a configured measure)")
            return None
        definition = self.settings.measure(measure)
        if definition is None:
            self.read.reject(loc, "scores", "questionnaire", f"measure {measure} is not configured", qr.questionnaire)
            return None
        if qr.status not in ("completed", "amended"):
            self.read.reject(loc, "scores", "status", "only completed or amended responses are imported", qr.status)
            return None
        client = self.client_of(loc, qr.subject, "subject", "scores", self._clients)
        if client is None:
            return None
        day = clinic_date(qr.authored, self.zone)
        if day is None:
            self.read.reject(loc, "scores", "authored", "required: when the response was given (a full date or dateTime)",
                             qr.authored)
            return None
        total_keys = {k for k, v in self.measure_codes.items() if v == measure}
        total, total_path, total_link = None, None, None
        scored: dict[int, tuple[int, str]] = {}
        uncoded: list[tuple[str, object, str]] = []
        for link_id, item, path in answered:
            codes = code_of(link_id)
            if codes & total_keys:
                answer = item.answer[0]
                raw = answer.valueInteger if answer.valueInteger is not None else (
                    answer.valueDecimal if answer.valueDecimal is not None else (
                        answer.valueQuantity.value if answer.valueQuantity is not None else None))
                total, total_path, total_link = _whole(raw), f"{path}.answer[0]", link_id
                if total is None:
                    self.read.reject(loc, "scores", f"{path}.answer[0]", "the stated total is not a whole number", raw)
                    return None
                continue
            position = next((self.item_codes[k][1] for k in codes if k in self.item_codes
                             and self.item_codes[k][0] == measure), None)
            if position is None:
                uncoded.append((link_id, item, path))
                continue
            if not self._score_item(loc, scored, position, item, q_items.get(link_id), questionnaire, path):
                return None
        if not scored and uncoded:
            # No item codes: the answered items in document order are items 1..N when there are exactly N.
            if len(uncoded) != definition.item_count:
                self.read.reject(loc, "scores", "item", f"cannot tell which answers are the {definition.item_count} "
                                 f"{measure} items: no LOINC item codes and {len(uncoded)} other answered items")
                return None
            for position, (link_id, item, path) in enumerate(uncoded, start=1):
                if not self._score_item(loc, scored, position, item, q_items.get(link_id), questionnaire, path):
                    return None
        complete = len(scored) == definition.item_count
        recomputed = sum(v for v, _ in scored.values()) if complete else None
        if total is not None and recomputed is not None and total != recomputed:
            self.read.reject(loc, "scores", total_path, f"{measure} item answers sum to {recomputed} but the stated "
                             f"total (item {total_link}) is {total}", total)
            return None
        if total is None:
            if recomputed is None:
                self.read.reject(loc, "scores", "item", f"no stated total and only {len(scored)} of "
                                 f"{definition.item_count} {measure} items answered: the total cannot be computed")
                return None
            total, total_path = recomputed, "item (the sum of the item answers)"
        values = {"client_id": client, "measure": measure, "administered_date": _iso(day), "total_score": str(total)}
        paths = {"client_id": loc.path("subject"), "measure": loc.path("questionnaire"),
                 "administered_date": loc.path("authored"), "total_score": loc.path(total_path)}
        for position, (value, path) in scored.items():
            values[f"item_{position}"] = str(value)
            paths[f"item_{position}"] = loc.path(path)
        return FhirRow(loc, values, paths)

    def _score_item(self, loc: Located, scored: dict[int, tuple[int, str]], position: int, item: object,
                    question: object, questionnaire: Located | None, path: str) -> bool:
        """Put one answered item's score at ``position`` of ``scored``; False (the response is
        rejected, saying where) when the answer carries no item score."""
        value = self._answer_score(item, question, questionnaire)
        if value is None:
            self.read.reject(loc, "scores", f"{path}.answer[0]", "the answer has no item score (valueInteger, "
                             "an ordinalValue/itemWeight, or a LOINC answer code LA6568-5..LA6571-9)")
            return False
        scored[position] = (value, f"{path}.answer[0]")
        return True

    def _answer_score(self, item, q_item, questionnaire: Located | None) -> int | None:
        answer = item.answer[0]
        if answer.valueInteger is not None:
            return answer.valueInteger
        if answer.valueDecimal is not None:
            return _whole(answer.valueDecimal)
        coding = answer.valueCoding
        if coding is None:
            return None
        own = _ordinal(coding.extension)
        if own is not None:
            return own
        if q_item is not None:
            for option in q_item.answerOption or []:
                oc = option.valueCoding
                if oc is not None and oc.code == coding.code and (coding.system is None or oc.system == coding.system):
                    value = _ordinal(option.extension) if _ordinal(option.extension) is not None else _ordinal(oc.extension)
                    if value is not None:
                        return value
            if q_item.answerValueSet and q_item.answerValueSet.startswith("#") and questionnaire is not None:
                vs_id = q_item.answerValueSet[1:]
                for contained in questionnaire.model.contained or []:
                    if getattr(contained, "id", None) != vs_id or contained.__resource_type__ != "ValueSet":
                        continue
                    for include in (contained.compose.include if contained.compose else []) or []:
                        if coding.system is not None and include.system != coding.system:
                            continue
                        for concept in include.concept or []:
                            if concept.code == coding.code and _ordinal(concept.extension) is not None:
                                return _ordinal(concept.extension)
        if coding.system in (LOINC, None) and coding.code in ANSWER_SCORES:
            return ANSWER_SCORES[coding.code]
        return None

    # -- assignments ---------------------------------------------------------------------
    def assignments(self) -> list[FhirRow]:
        rows: list[FhirRow] = []
        homework = set(self.options.homework_codes)
        for loc in self.by_type.get("Task", []):
            t = loc.model
            if "Task" not in self.options.homework_from:
                self.read.skip(loc, "Task (homework_from does not include Task)")
                continue
            if not _has_code(t.code, homework):
                self.read.skip(loc, "Task (not marked as homework)")
                continue
            fields: dict[str, tuple[object, str]] = {}
            for element, names in (("input", TASK_INPUTS), ("output", TASK_OUTPUTS)):
                for i, part in enumerate(getattr(t, element) or []):
                    name = next((c.code for c in _codings(part.type) if c.system == CS_HOMEWORK_FIELD), None)
                    if name in names:
                        fields[name] = (_part_value(part), f"{element}[{i}].value[x]")
            start, start_path = (t.executionPeriod.start if t.executionPeriod else None), "executionPeriod.start"
            if start is None:
                start, start_path = t.authoredOn, "authoredOn"
            end = t.executionPeriod.end if t.executionPeriod else None
            status = {"completed": "reviewed", "failed": "reviewed", "cancelled": "skip", "requested": "open",
                      "received": "open", "accepted": "open", "ready": "open", "in-progress": "open",
                      "on-hold": "open", "draft": "open"}.get(t.status, "bad")
            self._homework_row(rows, loc, "Task", t.id, ("id", "for", "code", "description"), t.for_fhir, t.code,
                               t.description, t.status, status, (start, start_path), (end, "executionPeriod.end"),
                               fields)
        for loc in self.by_type.get("CarePlan", []):
            plan = loc.model
            if "CarePlan" not in self.options.homework_from:
                self.read.skip(loc, "CarePlan (homework_from does not include CarePlan)")
                continue
            marked = False
            for i, activity in enumerate(plan.activity or []):
                d = activity.detail
                if d is None or not _has_code(d.code, homework):
                    continue
                marked = True
                at = f"activity[{i}].detail"
                fields = {}
                for j, ext in enumerate(d.extension or []):
                    if ext.url != EXT_HOMEWORK_FIELDS:
                        continue
                    for k, sub in enumerate(ext.extension or []):
                        if sub.url in TASK_INPUTS or sub.url in TASK_OUTPUTS:
                            fields[sub.url] = (_part_value(sub), f"{at}.extension[{j}].extension[{k}].value[x]")
                start, start_path = (d.scheduledPeriod.start if d.scheduledPeriod else None), f"{at}.scheduledPeriod.start"
                if start is None:
                    start, start_path = plan.created, "created"
                end = d.scheduledPeriod.end if d.scheduledPeriod else None
                status = {"completed": "reviewed", "cancelled": "skip", "stopped": "skip", "entered-in-error": "skip",
                          "not-started": "open", "scheduled": "open", "in-progress": "open",
                          "on-hold": "open"}.get(d.status, "bad")
                self._homework_row(rows, loc, "CarePlan activity", f"{plan.id}-{i + 1}",
                                   (f"id (+ activity number {i + 1})", "subject", f"{at}.code", f"{at}.description"),
                                   plan.subject, d.code, d.description, d.status, status, (start, start_path),
                                   (end, f"{at}.scheduledPeriod.end"), fields, status_path=f"{at}.status")
            if not marked:
                self.read.skip(loc, "CarePlan (no activity marked as homework)")
        return rows

    def _homework_row(self, rows: list[FhirRow], loc: Located, what: str, assignment_id: str | None,
                      where: tuple[str, str, str, str], subject, code, description, raw_status, status: str,
                      start: tuple, end: tuple, fields: dict, status_path: str = "status") -> None:
        """One assignment from a homework Task or CarePlan activity (the rules are the same)."""
        id_path, subject_path, code_path, description_path = where
        if status == "skip":
            self.read.skip(loc, f"{what} (homework {raw_status})")
            return
        if status == "bad":
            self.read.reject(loc, "assignments", status_path, "not a homework status this import reads", raw_status)
            return
        client = self.client_of(loc, subject, subject_path, "assignments", self._clients)
        if client is None:
            return
        rel: dict[str, str] = {"assignment_id": id_path, "client_id": subject_path, "assigned_date": start[1],
                               "homework_type": f"{code_path}.coding.where(system='{CS_HOMEWORK_TYPE}')",
                               "description": description_path}
        values: dict[str, str | None] = {
            "assignment_id": assignment_id, "client_id": client, "assigned_date": _iso(clinic_date(start[0], self.zone)),
            "homework_type": next((c.code for c in _codings(code) if c.system == CS_HOMEWORK_TYPE), None),
            "description": description,
        }
        for name, (value, path) in fields.items():
            values[name] = ("true" if value else "false") if isinstance(value, bool) else (
                None if value is None else str(value))
            rel[name] = path
        if status == "reviewed":
            if end[0] is None:
                self.read.reject(loc, "assignments", end[1],
                                 f"required for a {raw_status} homework {what}: the day it was reviewed")
                return
            values["reviewed_date"], rel["reviewed_date"] = _iso(clinic_date(end[0], self.zone)), end[1]
        else:
            values["reviewed_date"] = None
            given = next((n for n in TASK_OUTPUTS if values.get(n) is not None), None)
            if given is not None:
                self.read.reject(loc, "assignments", rel[given], f"a review result ({given}) on a homework {what} "
                                 f"whose status {raw_status} is not a finished one", values[given])
                return
        rows.append(FhirRow(loc, values, {k: loc.path(v) for k, v in rel.items()}))


def _part_value(part):
    return next((getattr(part, f) for f in ("valueBoolean", "valueInteger", "valueCode", "valueString")
                 if getattr(part, f, None) is not None), None)


def _answer_code_score(concept) -> int | None:
    for c in _codings(concept):
        own = _ordinal(c.extension)
        if own is not None:
            return own
        if c.system == LOINC and c.code in ANSWER_SCORES:
            return ANSWER_SCORES[c.code]
    return None


def _ordinal(extensions) -> int | None:
    for x in extensions or []:
        if x.url in ORDINAL_EXTENSIONS:
            for attr in ("valueDecimal", "valueInteger"):
                value = getattr(x, attr, None)
                if value is not None:
                    return _whole(value)
    return None


def _flatten_questionnaire(items, out: dict) -> None:
    for item in items:
        out[item.linkId] = item
        _flatten_questionnaire(item.item or [], out)


def _flatten_response(items, path: str, out: list) -> None:
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if item.answer:
            out.append((item.linkId, item, here))
            for j, answer in enumerate(item.answer):
                _flatten_response(answer.item or [], f"{here}.answer[{j}].item", out)
        _flatten_response(item.item or [], f"{here}.item", out)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def read_fhir(files: list[tuple[Path, str]], settings: Settings, options: FhirOptions | None = None) -> FhirRead:
    """Read every FHIR file of one import run and map its resources onto our tables."""
    options = options or FhirOptions()
    read = FhirRead()
    try:
        ZoneInfo(settings.clinic_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        for _, name in files:
            read.refused[name] = (f"the clinic_timezone setting {settings.clinic_timezone!r} is not a known time zone "
                                  "(an IANA name such as Europe/London)")
        return read
    resources: list[Located] = []
    for path, name in files:
        try:
            found = read_file(path, name, read)
        except FhirFileRefused as exc:
            read.refused[name] = str(exc)
            continue
        read.resources[name] = len(found)
        resources.extend(found)
    parsed = parse(resources, read)
    mapper = _Mapper(parsed, read, settings, options)
    read.rows["clients"] = mapper.clients()
    read.rows["sessions"] = mapper.sessions()
    read.rows["assignments"] = mapper.assignments()
    read.rows["scores"] = mapper.scores()
    return read


__all__ = ["FhirOptions", "FhirRead", "read_fhir", "is_fhir_file"]
