"""Write a clinic export (the generator's four tables) as a FHIR R4 Bulk Data export.

One NDJSON file per resource type, one resource per line, in the shape the FHIR import
reads (analytics/ingest/fhir_import.py; mapping in docs/import-format.md, "FHIR R4"): the same
clinic imported from these files and from its CSV export gives the same database.

Times: each session, score and assignment date is written as a dateTime at 10:00 local
time in the clinic's time zone with its UTC offset (so a reader that ignored the zone
would still land on the right day only by luck, and the import's zone handling is used).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from .fhir_import import (
    CS_HOMEWORK_FIELD,
    CS_HOMEWORK_TYPE,
    CS_MEASURE,
    CS_TASK_KIND,
    EXT_SESSION_NUMBER,
    ITEM_CODES,
    LOINC,
    TASK_INPUTS,
    TASK_OUTPUTS,
)

# LOINC totals and panels of the measures that have them; others use our measure code system.
TOTAL_LOINC = {"PHQ-9": "44261-6", "GAD-7": "70274-6"}
PANEL_LOINC = {"PHQ-9": "44249-1", "GAD-7": "69737-5"}
ANSWER_CODES = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")  # LOINC LL358-3: 0..3
RESOURCE_ORDER = ("Organization", "Practitioner", "Patient", "EpisodeOfCare", "Encounter", "Observation",
                  "QuestionnaireResponse", "Task")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-.]+", "-", text).strip("-").lower() or "x"


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def _day(value) -> dt.date | None:
    if _missing(value):
        return None
    return pd.Timestamp(value).date()


def _local_time(day: dt.date, zone: ZoneInfo, hour: int = 10) -> str:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=zone).isoformat()


def fhir_resources(frames: dict[str, pd.DataFrame], time_zone: str = "Europe/London") -> dict[str, list[dict]]:
    """The clinic's tables as FHIR R4 resources, by resource type."""
    zone = ZoneInfo(time_zone)
    out: dict[str, list[dict]] = {t: [] for t in RESOURCE_ORDER}
    clients = frames["clients"]
    for clinic in sorted(clients["clinic"].dropna().unique()):
        out["Organization"].append({"resourceType": "Organization", "id": _slug(clinic), "name": clinic})
    for therapist in sorted(clients["therapist_id"].dropna().unique()):
        out["Practitioner"].append({"resourceType": "Practitioner", "id": therapist})
    for c in clients.itertuples(index=False):
        patient = {
            "resourceType": "Patient", "id": c.client_id,
            "managingOrganization": {"reference": f"Organization/{_slug(c.clinic)}"},
            "generalPractitioner": [{"reference": f"Practitioner/{c.therapist_id}"}],
        }
        out["Patient"].append(patient)
        intake, discharge = _day(c.intake_date), _day(c.discharge_date)
        period = {"start": intake.isoformat()}
        if discharge:
            period["end"] = discharge.isoformat()
        episode = {"resourceType": "EpisodeOfCare", "id": f"{c.client_id}-episode",
                   "status": "finished" if discharge else "active",
                   "patient": {"reference": f"Patient/{c.client_id}"}, "period": period}
        if not _missing(c.program):
            episode["type"] = [{"text": c.program}]
        if not _missing(c.primary_concern):
            episode["diagnosis"] = [{"condition": {"display": c.primary_concern}, "rank": 1}]
        out["EpisodeOfCare"].append(episode)
    for s in frames["sessions"].itertuples(index=False):
        day = _day(s.session_date)
        encounter = {
            "resourceType": "Encounter", "id": f"{s.client_id}-{day.isoformat()}",
            "status": "finished" if bool(s.attended) else "cancelled",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{s.client_id}"},
            "period": {"start": _local_time(day, zone)},
        }
        if not _missing(s.session_number):
            encounter["extension"] = [{"url": EXT_SESSION_NUMBER, "valueInteger": int(s.session_number)}]
        out["Encounter"].append(encounter)
    scores = frames["scores"]
    item_cols = [c for c in scores.columns if c.startswith("item_")]
    for row in scores.itertuples(index=False):
        r = row._asdict()
        day = _day(r["administered_date"])
        rid = f"{r['client_id']}-{_slug(r['measure'])}-{day.isoformat()}"
        items = {int(c.split("_")[1]): int(r[c]) for c in item_cols if not _missing(r[c])}
        codes = ITEM_CODES.get(r["measure"])
        if items and codes and r["measure"] in TOTAL_LOINC:
            answers = [
                {"linkId": codes[i - 1], "answer": [{"valueCoding": {"system": LOINC, "code": ANSWER_CODES[v]}}]}
                for i, v in sorted(items.items())
            ]
            answers.append({"linkId": TOTAL_LOINC[r["measure"]], "answer": [{"valueInteger": int(r["total_score"])}]})
            out["QuestionnaireResponse"].append({
                "resourceType": "QuestionnaireResponse", "id": rid, "status": "completed",
                "questionnaire": f"http://loinc.org/q/{PANEL_LOINC[r['measure']]}",
                "subject": {"reference": f"Patient/{r['client_id']}"},
                "authored": _local_time(day, zone), "item": answers,
            })
            continue
        code = ({"system": LOINC, "code": TOTAL_LOINC[r["measure"]]} if r["measure"] in TOTAL_LOINC
                else {"system": CS_MEASURE, "code": r["measure"]})
        out["Observation"].append({
            "resourceType": "Observation", "id": rid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "survey"}]}],
            "code": {"coding": [code]}, "subject": {"reference": f"Patient/{r['client_id']}"},
            "effectiveDateTime": _local_time(day, zone), "valueInteger": int(r["total_score"]),
        })
    for row in frames["assignments"].itertuples(index=False):
        a = row._asdict()
        assigned, reviewed = _day(a["assigned_date"]), _day(a["reviewed_date"])
        period = {"start": _local_time(assigned, zone)}
        if reviewed:
            period["end"] = _local_time(reviewed, zone)
        task = {
            "resourceType": "Task", "id": a["assignment_id"], "status": "completed" if reviewed else "in-progress",
            "intent": "order",
            "code": {"coding": [{"system": CS_TASK_KIND, "code": "homework"},
                                {"system": CS_HOMEWORK_TYPE, "code": a["homework_type"]}]},
            "for": {"reference": f"Patient/{a['client_id']}"}, "executionPeriod": period,
        }
        if not _missing(a["description"]):
            task["description"] = a["description"]
        for key, names in (("input", TASK_INPUTS), ("output", TASK_OUTPUTS)):
            parts = []
            for name in names:
                value = a.get(name)
                if _missing(value):
                    continue
                kind = {"type": {"coding": [{"system": CS_HOMEWORK_FIELD, "code": name}]}}
                if name == "rated_by":
                    kind["valueCode"] = str(value)
                elif isinstance(value, bool) or str(type(value)).endswith("bool_'>"):
                    kind["valueBoolean"] = bool(value)
                else:
                    kind["valueInteger"] = int(value)
                parts.append(kind)
            if parts:
                task[key] = parts
        out["Task"].append(task)
    return out


def write_fhir_export(frames: dict[str, pd.DataFrame], out_dir: Path, time_zone: str = "Europe/London") -> list[Path]:
    """Write ``<Type>.ndjson`` files (FHIR Bulk Data layout) into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for rtype, resources in fhir_resources(frames, time_zone).items():
        if not resources:
            continue
        path = out_dir / f"{rtype}.ndjson"
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            for resource in resources:
                fh.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
        paths.append(path)
    return paths
