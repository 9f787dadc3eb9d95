"""FHIR R4 import (analytics/ingest/fhir_import.py through analytics/ingest/importer.py): each mapping, each
reject with its location, the public example files, and the generated clinic imported as CSV
and as a FHIR Bulk export giving the same summary byte for byte."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from analytics.cli.main import main as cli_main
from analytics.config import Settings
from analytics.ingest.fhir_export import write_fhir_export
from analytics.ingest.fhir_import import (
    CS_HOMEWORK_FIELD,
    CS_HOMEWORK_TYPE,
    CS_MEASURE,
    CS_TASK_KIND,
    EXT_HOMEWORK_FIELDS,
    EXT_NO_SHOW,
    EXT_SESSION_NUMBER,
    LOINC,
)
from analytics.ingest.importer import import_files
from analytics.ingest.profiles import MappingProfile
from sample_data.generator import TABLES, generate_clinic, write_csv

TODAY = dt.date(2026, 11, 27)
DATA = Path(__file__).resolve().parent / "data" / "fhir"


def ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    return path


def bundle(path: Path, resources: list[dict], kind: str = "collection") -> Path:
    path.write_text(json.dumps({"resourceType": "Bundle", "type": kind,
                                "entry": [{"resource": r} for r in resources]}), encoding="utf-8")
    return path


def rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def rejects(db: Path) -> list[tuple]:
    return rows(db, "SELECT file_name, line_number, column_name, value, rule FROM import_rejects ORDER BY rowid")


ORG = {"resourceType": "Organization", "id": "north", "name": "Northside"}
PATIENT = {"resourceType": "Patient", "id": "P1", "managingOrganization": {"reference": "Organization/north"},
           "generalPractitioner": [{"reference": "Practitioner/T001"}],
           "identifier": [{"system": "urn:clinic:mrn", "value": "MRN-1"}]}
EPISODE = {"resourceType": "EpisodeOfCare", "id": "E1", "status": "finished", "patient": {"reference": "Patient/P1"},
           "period": {"start": "2025-01-06", "end": "2025-04-14"}, "type": [{"text": "Depression CBT"}],
           "diagnosis": [{"condition": {"display": "depression"}, "rank": 1}]}


def obs(rid: str, code: str, when: str, value: dict, system: str = LOINC, subject: str = "Patient/P1") -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final", "code": {"coding": [{"system": system,
            "code": code}]}, "subject": {"reference": subject}, "effectiveDateTime": when, **value}


def encounter(rid: str, start: str, status: str = "finished", **extra) -> dict:
    return {"resourceType": "Encounter", "id": rid, "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/P1"}, "period": {"start": start}, **extra}


def base_files(tmp_path: Path) -> list[Path]:
    return [ndjson(tmp_path / "Organization.ndjson", [ORG]), ndjson(tmp_path / "Patient.ndjson", [PATIENT]),
            ndjson(tmp_path / "EpisodeOfCare.ndjson", [EPISODE])]


def test_patient_and_episode_map_onto_a_client(tmp_path):
    db = tmp_path / "c.duckdb"
    result = import_files(db, base_files(tmp_path), today=TODAY)
    assert result.exit_code == 0, result.report()
    assert rows(db, "SELECT client_id, clinic, therapist_id, program, primary_concern, intake_date, discharge_date "
                    "FROM clients") == [("P1", "Northside", "T001", "Depression CBT", "depression",
                                         dt.date(2025, 1, 6), dt.date(2025, 4, 14))]


def test_client_id_from_a_configured_identifier_system(tmp_path):
    db = tmp_path / "c.duckdb"
    files = base_files(tmp_path) + [ndjson(tmp_path / "Observation.ndjson", [
        obs("o1", "44261-6", "2025-01-06", {"valueInteger": 14})])]
    profile = MappingProfile(fhir={"client_identifier_system": "urn:clinic:mrn"})
    result = import_files(db, files, profile=profile, today=TODAY)
    assert result.exit_code == 0, result.report()
    assert rows(db, "SELECT client_id FROM clients") == [("MRN-1",)]
    assert rows(db, "SELECT client_id, measure, total_score FROM scores") == [("MRN-1", "PHQ-9", 14)]


def test_therapist_from_the_first_encounter_when_configured(tmp_path):
    db = tmp_path / "c.duckdb"
    patient = {k: v for k, v in PATIENT.items() if k != "generalPractitioner"}
    enc = encounter("s1", "2025-01-06T10:00:00+00:00",
                    participant=[{"individual": {"reference": "Practitioner?identifier=urn:npi|T009"}}])
    files = [ndjson(tmp_path / "Organization.ndjson", [ORG]), ndjson(tmp_path / "Patient.ndjson", [patient]),
             ndjson(tmp_path / "Encounter.ndjson", [enc])]
    result = import_files(db, files, profile=MappingProfile(fhir={"therapist_from": ["encounter"]}), today=TODAY)
    assert result.exit_code == 0, result.report()
    # No EpisodeOfCare: the first Encounter gives the intake; the discharge is not guessed.
    assert rows(db, "SELECT therapist_id, intake_date, discharge_date FROM clients") == [
        ("T009", dt.date(2025, 1, 6), None)]


def test_encounter_status_maps_onto_attended_and_other_statuses_are_rejected(tmp_path):
    db = tmp_path / "c.duckdb"
    encounters = [
        encounter("s1", "2025-01-06T10:00:00+00:00", extension=[{"url": EXT_SESSION_NUMBER, "valueInteger": 1}]),
        encounter("s2", "2025-01-13T10:00:00+00:00", status="cancelled"),
        encounter("s3", "2025-01-20T10:00:00+00:00", extension=[{"url": EXT_NO_SHOW, "valueBoolean": True}]),
        encounter("s4", "2025-01-27T10:00:00+00:00", status="planned"),
    ]
    files = base_files(tmp_path) + [ndjson(tmp_path / "Encounter.ndjson", encounters)]
    result = import_files(db, files, today=TODAY)
    assert rows(db, "SELECT session_date, attended, session_number FROM sessions ORDER BY 1") == [
        (dt.date(2025, 1, 6), True, 1), (dt.date(2025, 1, 13), False, None), (dt.date(2025, 1, 20), False, None)]
    assert rejects(db) == [("Encounter.ndjson", 4, "Encounter.status", "planned",
                            "not a held or missed session: only finished (attended), cancelled, entered-in-error or "
                            "the no-show extension (missed) are sessions")]
    assert result.rejected == 1 and result.exit_code == 1


def test_observation_values_and_time_zone_to_the_clinic_date(tmp_path):
    observations = [
        obs("o1", "44261-6", "2025-06-30T23:30:00Z", {"valueInteger": 12}),
        obs("o2", "70274-6", "2025-03-10T09:00:00-05:00", {"valueQuantity": {"value": 9.0, "unit": "{score}"}}),
    ]
    files = base_files(tmp_path) + [ndjson(tmp_path / "Observation.ndjson", observations)]
    london = tmp_path / "london.duckdb"
    assert import_files(london, files, today=TODAY).exit_code == 0
    assert rows(london, "SELECT measure, administered_date, total_score FROM scores ORDER BY 1") == [
        ("GAD-7", dt.date(2025, 3, 10), 9), ("PHQ-9", dt.date(2025, 7, 1), 12)]  # 23:30 UTC is 00:30 BST
    new_york = tmp_path / "ny.duckdb"
    settings = replace(Settings(), clinic_timezone="America/New_York")
    assert import_files(new_york, files, settings=settings, today=TODAY).exit_code == 0
    assert rows(new_york, "SELECT administered_date FROM scores WHERE measure = 'PHQ-9'") == [(dt.date(2025, 6, 30),)]


def test_item_9_observation_joins_the_total_and_core10_by_configured_code(tmp_path):
    db = tmp_path / "c.duckdb"
    observations = [
        obs("o1", "44261-6", "2025-01-06T10:00:00Z", {"valueInteger": 12}),
        obs("o2", "44260-8", "2025-01-06T10:05:00Z",
            {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6570-1"}]}}),
        obs("o3", "C10", "2025-01-06T10:00:00Z", {"valueInteger": 20}, system="urn:vendor:measures"),
        obs("o4", "CORE-10", "2025-01-13T10:00:00Z", {"valueInteger": 18}, system=CS_MEASURE),
    ]
    files = base_files(tmp_path) + [ndjson(tmp_path / "Observation.ndjson", observations)]
    profile = MappingProfile(fhir={"measure_codes": {"urn:vendor:measures|C10": "CORE-10"}})
    result = import_files(db, files, profile=profile, today=TODAY)
    assert result.exit_code == 0, result.report()
    assert rows(db, "SELECT measure, administered_date, total_score, item_9 FROM scores ORDER BY 1, 2") == [
        ("CORE-10", dt.date(2025, 1, 6), 20, None), ("CORE-10", dt.date(2025, 1, 13), 18, None),
        ("PHQ-9", dt.date(2025, 1, 6), 12, 2)]


def qr(items: list[tuple[str, dict]], rid: str = "q1") -> dict:
    return {"resourceType": "QuestionnaireResponse", "id": rid, "status": "completed",
            "subject": {"reference": "Patient/P1"}, "authored": "2025-01-06T10:00:00+00:00",
            "item": [{"linkId": link, "answer": [answer]} for link, answer in items]}


LA = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
GAD7_ITEMS = ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7")


def gad7(answers: list[int], total: int | None) -> dict:
    items = [(f"/{code}", {"valueCoding": {"system": LOINC, "code": LA[a]}}) for code, a in zip(GAD7_ITEMS, answers,
                                                                                             strict=True)]
    if total is not None:
        items.append(("/70274-6", {"valueInteger": total}))
    return qr(items)


def test_questionnaire_response_items_and_recomputed_total(tmp_path):
    db = tmp_path / "c.duckdb"
    files = base_files(tmp_path) + [ndjson(tmp_path / "QuestionnaireResponse.ndjson", [gad7([1, 2, 0, 3, 1, 0, 2], None)])]
    assert import_files(db, files, today=TODAY).exit_code == 0
    assert rows(db, "SELECT measure, total_score, item_1, item_4, item_7, item_8 FROM scores") == [
        ("GAD-7", 9, 1, 3, 2, None)]


def test_questionnaire_response_total_mismatch_is_rejected_with_both_numbers(tmp_path):
    db = tmp_path / "c.duckdb"
    files = base_files(tmp_path) + [ndjson(tmp_path / "QuestionnaireResponse.ndjson", [gad7([1, 2, 0, 3, 1, 0, 2], 11)])]
    result = import_files(db, files, today=TODAY)
    assert rows(db, "SELECT count(*) FROM scores") == [(0,)]
    assert rejects(db) == [("QuestionnaireResponse.ndjson", 1, "QuestionnaireResponse.item[7].answer[0]", "11",
                            "GAD-7 item answers sum to 9 but the stated total (item /70274-6) is 11")]
    assert result.rejected == 1 and result.files[-1].rows_rejected == 1


def task(rid: str, status: str, start: str, end: str | None = None, kind: str = "thought_record",
         inputs: dict | None = None, outputs: dict | None = None, homework: bool = True) -> dict:
    def parts(values: dict) -> list[dict]:
        out = []
        for name, value in values.items():
            key = "valueBoolean" if isinstance(value, bool) else ("valueCode" if isinstance(value, str) else "valueInteger")
            out.append({"type": {"coding": [{"system": CS_HOMEWORK_FIELD, "code": name}]}, key: value})
        return out

    codings = [{"system": CS_HOMEWORK_TYPE, "code": kind}]
    if homework:
        codings.insert(0, {"system": CS_TASK_KIND, "code": "homework"})
    t = {"resourceType": "Task", "id": rid, "status": status, "intent": "order", "code": {"coding": codings},
         "for": {"reference": "Patient/P1"}, "executionPeriod": {"start": start, **({"end": end} if end else {})},
         "description": "Thought record after Monday's argument"}
    if inputs:
        t["input"] = parts(inputs)
    if outputs:
        t["output"] = parts(outputs)
    return t


def test_task_maps_onto_an_assignment_and_other_tasks_are_skipped_and_counted(tmp_path):
    db = tmp_path / "c.duckdb"
    tasks = [
        task("A1", "completed", "2025-01-06T10:00:00Z", "2025-01-13T10:00:00Z",
             inputs={"goal_linked": True, "rationale_given": False, "planned_practices": 3},
             outputs={"completed_practices": 2, "quantity_rating": 3, "quality_rating": 2, "rated_by": "therapist"}),
        task("A2", "in-progress", "2025-01-13T10:00:00Z", kind="behavioural_activation"),
        task("X1", "completed", "2025-01-13T10:00:00Z", "2025-01-14T10:00:00Z", homework=False),
        task("A3", "completed", "2025-01-13T10:00:00Z"),
    ]
    files = base_files(tmp_path) + [ndjson(tmp_path / "Task.ndjson", tasks)]
    result = import_files(db, files, today=TODAY)
    assert rows(db, """SELECT assignment_id, assigned_date, homework_type, goal_linked, rationale_given, planned_practices,
                       completed_practices, quantity_rating, quality_rating, rated_by, reviewed_date, description
                       FROM assignments ORDER BY 1""") == [
        ("A1", dt.date(2025, 1, 6), "thought_record", True, False, 3, 2, 3, 2, "therapist", dt.date(2025, 1, 13),
         "Thought record after Monday's argument"),
        ("A2", dt.date(2025, 1, 13), "behavioural_activation", None, None, None, None, None, None, None, None,
         "Thought record after Monday's argument"),
    ]
    assert rejects(db) == [("Task.ndjson", 4, "Task.executionPeriod.end", None,
                            "required for a completed homework Task: the day it was reviewed")]
    task_report = next(f for f in result.files if f.file_name == "Task.ndjson")
    assert task_report.skipped == {"Task (not marked as homework)": 1}
    assert "resources skipped (not imported): Task (not marked as homework) 1" in result.report()


def test_a_review_result_on_an_open_task_is_rejected_not_guessed(tmp_path):
    db = tmp_path / "c.duckdb"
    tasks = [task("A1", "in-progress", "2025-01-06T10:00:00Z", outputs={"quantity_rating": 4}),
             task("A2", "cancelled", "2025-01-06T10:00:00Z")]
    files = base_files(tmp_path) + [ndjson(tmp_path / "Task.ndjson", tasks)]
    result = import_files(db, files, today=TODAY)
    assert rejects(db) == [("Task.ndjson", 1, "Task.output[0].value[x]", "4",
                            "a review result (quantity_rating) on a homework Task whose status in-progress is not a "
                            "finished one")]
    assert rows(db, "SELECT count(*) FROM assignments") == [(0,)]
    assert next(f for f in result.files if f.file_name == "Task.ndjson").skipped == {"Task (homework cancelled)": 1}


def test_careplan_activities_are_homework_when_configured(tmp_path):
    plan = {
        "resourceType": "CarePlan", "id": "CP1", "status": "active", "intent": "plan",
        "subject": {"reference": "Patient/P1"},
        "activity": [
            {"detail": {"status": "completed", "description": "Walk twice before work",
                        "code": {"coding": [{"system": CS_TASK_KIND, "code": "homework"},
                                            {"system": CS_HOMEWORK_TYPE, "code": "behavioural_activation"}]},
                        "scheduledPeriod": {"start": "2025-01-13T10:00:00Z", "end": "2025-01-20T10:00:00Z"},
                        "extension": [{"url": EXT_HOMEWORK_FIELDS, "extension": [
                            {"url": "planned_practices", "valueInteger": 4},
                            {"url": "quality_rating", "valueInteger": 3}]}]}},
            {"detail": {"status": "in-progress", "code": {"coding": [{"system": "urn:other", "code": "exercise"}]}}},
        ],
    }
    files = base_files(tmp_path) + [ndjson(tmp_path / "CarePlan.ndjson", [plan])]
    not_configured = tmp_path / "a.duckdb"
    result = import_files(not_configured, files, today=TODAY)
    assert rows(not_configured, "SELECT count(*) FROM assignments") == [(0,)]
    assert next(f for f in result.files if f.file_name == "CarePlan.ndjson").skipped == {
        "CarePlan (homework_from does not include CarePlan)": 1}
    db = tmp_path / "b.duckdb"
    result = import_files(db, files, profile=MappingProfile(fhir={"homework_from": ["Task", "CarePlan"]}), today=TODAY)
    assert result.exit_code == 0, result.report()
    assert rows(db, """SELECT assignment_id, assigned_date, homework_type, planned_practices, quality_rating,
                       reviewed_date, description FROM assignments""") == [
        ("CP1-1", dt.date(2025, 1, 13), "behavioural_activation", 4, 3, dt.date(2025, 1, 20), "Walk twice before work")]


def test_unknown_types_are_skipped_and_counted_in_the_report_and_history(tmp_path):
    db = tmp_path / "c.duckdb"
    other = [{"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/P1"}},
             {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/P1"}},
             {"resourceType": "Procedure", "id": "p1", "status": "completed", "subject": {"reference": "Patient/P1"}}]
    files = base_files(tmp_path) + [bundle(tmp_path / "other.json", [PATIENT, *other], kind="searchset")]
    result = import_files(db, files, today=TODAY)
    assert result.exit_code == 0, result.report()
    report = next(f for f in result.files if f.file_name == "other.json")
    assert report.skipped == {"Condition": 2, "Procedure": 1}
    (files_json,), = rows(db, "SELECT files FROM import_batches")
    assert {"Condition": 2, "Procedure": 1} in [f.get("skipped") for f in json.loads(files_json)]


def test_malformed_resources_are_rejected_with_file_line_entry_path_and_rule(tmp_path):
    db = tmp_path / "c.duckdb"
    bad_ndjson = tmp_path / "Observation.ndjson"
    bad_ndjson.write_text(
        json.dumps(obs("o1", "44261-6", "2025-01-06", {"valueInteger": 12})) + "\n"
        + '{"resourceType": "Observation", "status": \n'
        + json.dumps({"resourceType": "Observation", "id": "o3", "status": "final", "code": {"coding": [
            {"system": LOINC, "code": "44261-6"}]}, "subject": {"reference": "Patient/P1"},
            "effectiveDateTime": "2025-01-07", "valueInteger": "abc"}) + "\n"
        + json.dumps(obs("o4", "44261-6", "2025-01-08", {"valueInteger": 30})) + "\n",
        encoding="utf-8")
    in_bundle = bundle(tmp_path / "bundle.json", [
        obs("b0", "44261-6", "2025-01-09", {"valueInteger": 5}),
        obs("b1", "44261-6", "2025-01-10", {"valueString": "12"}),
        obs("b2", "70274-6", "2025", {"valueInteger": 3}),
    ], kind="transaction")
    result = import_files(db, base_files(tmp_path) + [bad_ndjson, in_bundle], today=TODAY)
    got = rejects(db)
    assert ("Observation.ndjson", 4, "Observation.valueInteger", "30", "PHQ-9 total_score must be between 0 and 27") in got
    assert ("Observation.ndjson", 2, "(line)", None, "not valid JSON (Expecting value at column 43)") in got
    assert ("Observation.ndjson", 3, "Observation.valueInteger", "abc",
            "not valid FHIR R4: Input should be a valid integer, unable to parse string as an integer") in got
    assert ("bundle.json", 1, "Bundle.entry[1].resource(Observation).valueString", "12",
            "a score must be valueInteger or valueQuantity (found valueString)") in got
    assert ("bundle.json", 2, "Bundle.entry[2].resource(Observation).effectiveDateTime", "2025",
            "required: the date the measure was taken (a full date or dateTime)") in got
    assert len(got) == 5
    assert rows(db, "SELECT administered_date, total_score FROM scores ORDER BY 1") == [
        (dt.date(2025, 1, 6), 12), (dt.date(2025, 1, 9), 5)]
    shown = [str(r) for r in result.rejects_preview]
    assert "bundle.json entry 1, column Bundle.entry[1].resource(Observation).valueString, value '12': " \
           "a score must be valueInteger or valueQuantity (found valueString)" in shown


def test_a_json_file_that_is_not_fhir_is_refused_whole(tmp_path):
    db = tmp_path / "c.duckdb"
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({"resourceType": "Bundle", "type": "document", "entry": []}), encoding="utf-8")
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2", encoding="utf-8")
    result = import_files(db, base_files(tmp_path) + [document, junk], today=TODAY)
    refused = {f.file_name: f.message for f in result.files if f.status == "refused"}
    assert refused == {
        "doc.json": "Bundle.type 'document' is not imported; expected one of collection, transaction, searchset, batch",
        "junk.json": "the file is not valid JSON (Expecting ',' delimiter at line 1)",
    }


# ---------------------------------------------------------------------------------------
# Public examples (tests/data/fhir/, sources and licences in tests/data/README.md)


def test_public_hl7_and_synthea_files_what_is_imported_and_rejected(tmp_path):
    db = tmp_path / "c.duckdb"
    files = sorted(DATA.glob("*.json")) + sorted((DATA / "synthea-10-patients").glob("*.ndjson"))
    result = import_files(db, files, today=TODAY)
    got = rejects(db)
    # HL7 SDC PHQ-9 response: its answers (ordinal values from its own Questionnaire) sum to 10, its total says 13.
    assert ("sdc-QuestionnaireResponse-PHQ9.json", 1, "QuestionnaireResponse.item[0].item[9].answer[0]", "13",
            "PHQ-9 item answers sum to 10 but the stated total (item H1/TS) is 13") in got
    # US Core PHQ-9 total given as a string: reported, not read as a number.
    assert ("uscore-Observation-PHQ9-item-example-44261-6.json", 1, "Observation.valueString", "12",
            "a score must be valueInteger or valueQuantity (found valueString)") in got
    # ... so its item 9 Observation has no total to join.
    assert ("uscore-Observation-PHQ9-item-example-44260-8.json", 1, "Observation.code", "44260-8",
            "PHQ-9 item 9 without a PHQ-9 total score Observation for the same client on the same day") in got
    # US Core PHQ-9 response: consistent (items sum to 12 = its total) but Patient/example is not in the files.
    assert ("uscore-QuestionnaireResponse-phq-9-example.json", 1, "QuestionnaireResponse.subject", "example",
            "unknown client_id: not stored and not in this import's clients") in got
    # Synthea: 13 patients; the 2 whose latest encounters are before 1990 are implausible under the default setting.
    synthea_patients = [r for r in got if r[0] == "Patient.000.ndjson"]
    assert [(r[1], r[4]) for r in synthea_patients] == [
        (1, "implausible date: before 1990-01-01 (setting earliest_plausible_date)"),
        (2, "implausible date: before 1990-01-01 (setting earliest_plausible_date)")]
    assert len([r for r in got if r[0] == "Encounter.000.ndjson"]) == 6
    assert rows(db, "SELECT count(*), count(DISTINCT clinic), count(therapist_id) FROM clients") == [(11, 11, 11)]
    assert rows(db, "SELECT count(*), count(*) FILTER (WHERE attended) FROM sessions") == [(33, 33)]
    assert rows(db, "SELECT count(*) FROM scores") == [(0,)]
    assert result.rejected == 12 and len(got) == 12


def test_public_us_core_response_imports_when_its_patient_is_a_client(tmp_path):
    db = tmp_path / "c.duckdb"
    patient = ndjson(tmp_path / "Patient.ndjson", [
        {"resourceType": "Patient", "id": "example", "managingOrganization": {"display": "Northside"},
         "generalPractitioner": [{"reference": "Practitioner/practitioner-1"}]}])
    episode = ndjson(tmp_path / "EpisodeOfCare.ndjson", [
        {"resourceType": "EpisodeOfCare", "id": "e", "status": "active", "patient": {"reference": "Patient/example"},
         "period": {"start": "2022-11-01"}}])
    result = import_files(db, [patient, episode, DATA / "uscore-QuestionnaireResponse-phq-9-example.json"], today=TODAY)
    assert result.exit_code == 0, result.report()
    assert rows(db, "SELECT client_id, measure, administered_date, total_score, item_1, item_5, item_9 FROM scores") == [
        ("example", "PHQ-9", dt.date(2022, 11, 29), 12, 2, 1, 0)]


# ---------------------------------------------------------------------------------------
# The generator's FHIR Bulk export: the same clinic as CSV and as FHIR


@pytest.fixture(scope="module")
def both_imports(tmp_path_factory):
    root = tmp_path_factory.mktemp("fhir-roundtrip")
    frames = generate_clinic(8, seed=11)
    csv_dir, fhir_dir = root / "csv", root / "fhir"
    csv_dir.mkdir()
    csv_files = [write_csv(frames[t], csv_dir / f"{t}.csv") for t in TABLES]
    fhir_files = write_fhir_export(frames, fhir_dir)
    for db, files in ((root / "csv.duckdb", csv_files), (root / "fhir.duckdb", fhir_files)):
        result = import_files(db, files, today=TODAY)
        assert result.exit_code == 0, result.report()
    return root / "csv.duckdb", root / "fhir.duckdb", fhir_files


def _summary_json(db: Path) -> bytes:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["summary", "--db", str(db), "--json"]) == 0
    return out.getvalue().encode()


def test_same_clinic_as_csv_and_as_fhir_gives_the_same_summary_byte_for_byte(both_imports):
    csv_db, fhir_db, _ = both_imports
    csv_summary = _summary_json(csv_db)
    assert json.loads(csv_summary)["clients"] == 8
    assert _summary_json(fhir_db) == csv_summary


def test_same_clinic_as_csv_and_as_fhir_gives_the_same_rows(both_imports):
    csv_db, fhir_db, fhir_files = both_imports
    assert {p.name for p in fhir_files} >= {"Patient.ndjson", "EpisodeOfCare.ndjson", "Encounter.ndjson",
                                             "QuestionnaireResponse.ndjson", "Task.ndjson"}
    with duckdb.connect(str(csv_db), read_only=True) as con:
        con.execute("ATTACH ? AS f (READ_ONLY)", [str(fhir_db)])
        for table in ("clients", "sessions", "assignments", "scores"):
            cols = "* EXCLUDE (batch_id)"
            n = con.execute(f"SELECT count(*) FROM main.{table}").fetchall()[0][0]
            assert n > 0
            diff = con.execute(f"""SELECT count(*) FROM (
                (SELECT {cols} FROM main.{table} EXCEPT ALL SELECT {cols} FROM f.main.{table})
                UNION ALL (SELECT {cols} FROM f.main.{table} EXCEPT ALL SELECT {cols} FROM main.{table}))""").fetchall()
            assert diff == [(0,)], table


def test_importing_the_same_fhir_export_twice_changes_nothing(both_imports, tmp_path):
    import shutil

    _, fhir_db, fhir_files = both_imports
    db = tmp_path / "twice.duckdb"
    shutil.copyfile(fhir_db, db)
    (first,), = rows(db, "SELECT rows_inserted FROM import_batches")
    second = import_files(db, fhir_files, today=TODAY)
    assert first > 0 and second.inserted == 0 and second.updated == 0 and second.unchanged == first
    assert rows(db, "SELECT count(*) FROM import_batches") == [(2,)]


# ---------------------------------------------------------------------------------------
# The command line and the Data page


def test_cli_imports_an_ndjson_export_and_a_bundle(tmp_path):
    db = tmp_path / "c.duckdb"
    export = ndjson(tmp_path / "export.ndjson", [ORG, PATIENT, EPISODE])
    in_bundle = bundle(tmp_path / "bundle.json", [obs("o1", "44261-6", "2025-01-06T10:00:00Z", {"valueInteger": 12}),
                                                  obs("o2", "44261-6", "2025-01-13T10:00:00Z", {"valueInteger": 40})])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["import", "--db", str(db), str(export), str(in_bundle)])
    assert code == 1  # a row was rejected
    text = out.getvalue()
    assert "export.ndjson -> clients: 1 rows read, 0 rejected" in text
    assert "bundle.json -> scores: 2 rows read, 1 rejected" in text
    assert ("bundle.json entry 1, column Bundle.entry[1].resource(Observation).valueInteger, value '40': "
            "PHQ-9 total_score must be between 0 and 27") in text
    assert rows(db, "SELECT total_score FROM scores") == [(12,)]


def test_data_page_imports_an_uploaded_fhir_file(sample_db_path, tmp_path, serve_database):
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.support.clinics import ROOT

    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(sample_db_path, db)
    serve_database(db)
    (client, day), = rows(db, "SELECT client_id, (intake_date - 30)::VARCHAR FROM clients ORDER BY client_id LIMIT 1")
    content = "".join(json.dumps(o) + "\n" for o in (
        obs("n1", "44261-6", f"{day}T10:00:00+00:00", {"valueInteger": 12}, subject=f"Patient/{client}"),
        obs("n2", "70274-6", f"{day}T10:00:00+00:00", {"valueString": "9"}, subject=f"Patient/{client}"),
    )).encode()
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60).run()
    at.file_uploader(key="import_files").set_value([("Observation.ndjson", content, "application/x-ndjson")])
    at.run()
    at.button(key="run_import").click().run()
    assert not at.exception, at.exception
    import pandas as pd

    frames = [f for f in (pd.DataFrame(d.value) for d in at.dataframe) if {"Line", "Column", "Rule broken"} <= set(f.columns)]
    assert frames[0][["File", "Line", "Column", "Value", "Rule broken"]].values.tolist() == [
        ["Observation.ndjson", 2, "Observation.valueString", "9",
         "a score must be valueInteger or valueQuantity (found valueString)"]]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT total_score FROM scores WHERE client_id = ? AND administered_date = ?::DATE "
                           "AND measure = 'PHQ-9'", [client, day]).fetchall() == [(12,)]


def test_upload_check_accepts_fhir_json_and_refuses_binary():
    from analytics.access import check_upload

    limit = 1_000_000
    assert check_upload("Observation.ndjson", b'{"resourceType": "Observation"}\n', limit) is None
    assert check_upload("bundle.json", b'{"resourceType": "Bundle"}', limit) is None
    assert check_upload("bundle.json", b'{"a": "\xff"}', limit) == (
        "bundle.json is not UTF-8 text (or contains NUL bytes); FHIR JSON must be UTF-8.")


def test_cli_sample_writes_a_fhir_export_of_the_same_clinic(tmp_path):
    csv_db, fhir_db, fhir_dir = tmp_path / "csv.duckdb", tmp_path / "fhir.duckdb", tmp_path / "fhir"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main(["sample", "--db", str(csv_db), "--clients", "3", "--seed", "3", "--fhir-dir", str(fhir_dir)]) == 0
    written = sorted(p.name for p in fhir_dir.glob("*.ndjson"))
    # Observation.ndjson: the group programme's CORE-10 totals (no LOINC panel: a total-score Observation)
    assert written == ["Encounter.ndjson", "EpisodeOfCare.ndjson", "Observation.ndjson", "Organization.ndjson",
                       "Patient.ndjson", "Practitioner.ndjson", "QuestionnaireResponse.ndjson", "Task.ndjson"]
    # The sample is generated as of its fixed date, so any later day may import it.
    assert import_files(fhir_db, sorted(fhir_dir.glob("*.ndjson")), today=TODAY).exit_code == 0
    assert _summary_json(fhir_db) == _summary_json(csv_db)
