"""Synthetic clinic export in the import format (clients, sessions, assignments, scores).

Everything is drawn from one ``numpy.random.default_rng(seed)`` stream, vectorised, and
anchored to a fixed ``as_of`` date, so the same ``(n_clients, seed, as_of)`` always gives
byte-identical CSV files whatever today's date is.

The data are fictional. Relations planted on purpose, sized like the published research
(see docs/clinical-reference.md), so the dashboard has something true to find:

* client-level compliance-outcome correlation about r = .25 (Mausbach et al. 2010): a
  client's mean homework quantity fraction vs their first-to-last PHQ-9 change, r ~ -0.25
  (negative because lower scores are better); mean quality fraction vs change r ~ -0.2;
* a within-client lag: a week whose homework went better than the client's usual is
  followed by a larger drop at the next score;
* assignment design: each design-checklist item met (goal linked, rationale given,
  rehearsed in session, practice scheduled, obstacles planned) raises completion;
* therapists differ in how much homework they set, how thoroughly they design it, how they
  record it (ratings or counted practices), who rates it, and which types they prefer.

Course shapes: fast early change that slows (1 - exp(-weeks / 6)); a minority (~4.5%) that
deteriorates; sudden gains planted in about a quarter of the improving clients (with the chance "gains" of
noisy scores, the detection finds one in ~37% of clients), where most of the
course's improvement comes at once between two sessions in weeks 2-8 (the end level is the
same, so outcomes at discharge are as without the gain).

Typical PHQ-9 intake ~15-16 (SD ~5), mean change ~-6, recovery ~50%, a few % reliably
deteriorate, ~10-15% of sessions missed, ~20% drop out, ~10% of assignments never reviewed,
~25% of discharged clients have a follow-up score 1-12 months later.

The Group CBT programme also gives CORE-10 (total scores, Barkham et al. 2013) at the same
scored sessions and follow-ups: on the 600-client sample (seed 7) 71 clients, first score ~17
(SD ~6, ~90% at caseness 11), mean change ~-5. It comes from a random stream of its own
(``CORE10_STREAM``), drawn after everything else, so every other row is what it was without it.

Run ``python -m sample_data.generator --out DIR --clients N --seed S`` to write the files.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit, ndtr

from analytics.config import HOMEWORK_TYPES  # the product's homework types, in its order

AS_OF = date(2026, 11, 1)

COLUMNS: dict[str, list[str]] = {
    "clients": [
        "client_id",
        "clinic",
        "therapist_id",
        "program",
        "primary_concern",
        "intake_date",
        "discharge_date",
    ],
    "sessions": ["client_id", "session_date", "attended", "session_number"],
    "assignments": [
        "assignment_id",
        "client_id",
        "assigned_date",
        "homework_type",
        "goal_linked",
        "rationale_given",
        "rehearsed_in_session",
        "practice_scheduled",
        "obstacles_planned",
        "involves_others",
        "planned_practices",
        "completed_practices",
        "quantity_rating",
        "quality_rating",
        "rated_by",
        "reviewed_date",
        "description",
    ],
    "scores": [
        "client_id",
        "measure",
        "administered_date",
        "total_score",
        *(f"item_{i}" for i in range(1, 10)),
    ],
}
TABLES = tuple(COLUMNS)

CHECKLIST = ("goal_linked", "rationale_given", "rehearsed_in_session", "practice_scheduled", "obstacles_planned")

CLINICS = ("Northside", "Riverside", "Harbour", "Eastgate", "Westfield")
CLINIC_WEIGHTS = np.array([0.29, 0.24, 0.20, 0.16, 0.11])
CLIENTS_PER_THERAPIST = 30  # mean caseload; individual caseloads vary ~12-55
INTAKE_SPAN_DAYS = 1000  # intakes fall in the ~2.7 years before as_of
GROUP_THERAPIST_SHARE = 0.15
GROUP_SIZE = 8

PROGRAMS = ("Depression CBT", "Anxiety CBT", "Group CBT")
CONCERNS = (
    "depression",
    "mixed anxiety-depression",
    "generalised anxiety",
    "panic",
    "social anxiety",
    "health anxiety",
)
DEPRESSIVE = np.array([True, True, False, False, False, False])
# P(primary concern | program), rows follow PROGRAMS, columns follow CONCERNS.
CONCERN_GIVEN_PROGRAM = np.array(
    [
        [0.80, 0.20, 0.00, 0.00, 0.00, 0.00],
        [0.00, 0.15, 0.35, 0.20, 0.20, 0.10],
        [0.45, 0.25, 0.30, 0.00, 0.00, 0.00],
    ]
)

# Base type mix for depressive vs anxious presentations (multiplied by therapist taste).
TYPE_BASE = np.array(
    [
        [0.26, 0.28, 0.02, 0.06, 0.08, 0.08, 0.10, 0.07, 0.05],  # depressive concern
        [0.22, 0.06, 0.26, 0.14, 0.06, 0.06, 0.10, 0.06, 0.04],  # anxious concern
    ]
)
TYPE_QUANTITY_EFFECT = np.array([-0.10, 0.05, -0.20, 0.15, -0.05, 0.05, 0.0, 0.25, 0.0])
TYPE_INVOLVES_OTHERS = np.array([0.04, 0.30, 0.25, 0.03, 0.02, 0.03, 0.18, 0.02, 0.10])
TYPE_PLANNED = np.array([[3, 7], [3, 7], [3, 7], [5, 7], [7, 7], [3, 7], [3, 5], [1, 2], [1, 3]])
CHECKLIST_OFFSETS = np.array([0.9, 0.5, -0.5, 0.0, -0.8])  # goal links are common, obstacle plans rare

RATERS = ("therapist", "client", "both")
MEASURES = ("PHQ-9", "GAD-7", "CORE-10")
MEASURE_MAX = np.array([27, 21, 40])
MEASURE_ITEMS = np.array([9, 7, 10])

# Outcome model (tuned so the measured relations land where the module docstring says).
Q_MEAN = 0.35  # quantity latent: fraction = Phi(latent)
Q_CLIENT = 0.75
Q_CHECKLIST = 0.12  # per checklist item met
Q_WEEK = 0.45
Q_NOISE = 0.75
PROGRESS_MEAN = 0.5  # mean proportional improvement over a full course
PROGRESS_QUANTITY = 0.075  # per SD of client mean quantity latent
PROGRESS_QUALITY = 0.04  # per SD of client mean quality latent
PROGRESS_SD = 0.26
DETERIORATE_SHARE = 0.045
LAG = 0.05  # proportional improvement per unit of a week's quantity-latent deviation
TAU_WEEKS = 6.0  # course shape: fast early change that slows, 1 - exp(-weeks / TAU_WEEKS)
# Sudden gains (Tang & DeRubeis 1999: 15-40% of clients in the literature): among improving
# clients, a share of the course's improvement comes at once between two sessions. Drawn from a
# stream of their own (seed, GAIN_STREAM) so the rest of the clinic is unchanged.
GAIN_STREAM = 13
GAIN_SHARE = 0.25  # of clients who are not deteriorating
GAIN_PART = (0.6, 0.95)  # share of the improvement that comes as the gain
GAIN_WEEKS = (2, 9)  # the gain comes in weeks 2-8 since intake
# CORE-10 (Barkham et al. 2013; docs/clinical-reference.md: 0-40, caseness >= 11, reliable change 6):
# the group programme gives it beside PHQ-9 and GAD-7 as its general distress measure, at the same
# scored sessions and follow-ups (total scores only). Drawn from a stream of its own
# (seed, CORE10_STREAM) after every other draw, so every other row of the clinic is unchanged.
CORE10_STREAM = 17
CORE10_PROGRAM = PROGRAMS.index("Group CBT")
CORE10_INTAKE = (19.0, 5.5)  # mean and SD of the intake score (a clinical population, above caseness 11)
CORE10_NOISE_SD = 2.2  # session-to-session measurement noise, points


# ---------------------------------------------------------------------------- helpers


def _group_cumsum(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group; rows sorted by group, groups contiguous."""
    total = np.cumsum(values)
    before = np.zeros(len(starts), dtype=total.dtype)
    nonempty = counts > 0
    before[nonempty] = total[starts[nonempty]] - values[starts[nonempty]]
    return total - np.repeat(before, counts)


def _starts(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(probs))
    return (u[:, None] > cum).sum(axis=1)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in numbers.tolist()], dtype=object)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 for days since 1970-01-01 (a Thursday)."""
    return (days + 3) % 7


def _to_dates(days: np.ndarray) -> np.ndarray:
    """Days since the epoch (NaN or < -10**8 for missing) -> datetime64[s] with NaT."""
    days = np.asarray(days, dtype=np.float64)
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype(np.int64).astype("datetime64[D]")
    return out.astype("datetime64[s]")


def _nullable(values: np.ndarray, mask: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.where(mask, values, 0).astype(np.int64), ~mask)


# ------------------------------------------------------------------- descriptions

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SITUATIONS = (
    "argument at work",
    "call with mum",
    "team meeting",
    "missed bus",
    "text from ex",
    "school run",
    "supermarket queue",
    "email from manager",
    "family dinner",
    "sleepless night",
    "job interview",
    "doctor's appointment",
)
_ACTIVITIES = (
    "a 20-minute walk",
    "calling a friend",
    "cooking a proper meal",
    "gardening",
    "going to the gym",
    "tidying one room",
    "visiting the library",
    "a swim",
    "playing guitar",
    "meeting a neighbour for coffee",
)
_EXPOSURES = (
    "taking the bus two stops",
    "shopping at a busy time",
    "asking a question in the meeting",
    "eating in the canteen",
    "leaving the phone at home for an hour",
    "using the lift",
    "not checking symptoms online",
    "making a phone call to a stranger",
    "standing in a queue",
    "driving on the motorway",
)
_RELAX = ("progressive muscle relaxation", "paced breathing", "body scan", "grounding (5-4-3-2-1)", "mindful walking")
_SKILLS = (
    "problem-solving steps",
    "assertive request",
    "worry time",
    "behavioural experiment",
    "opposite action",
    "self-compassion break",
    "sleep hygiene routine",
)
_READINGS = (
    ("Mind Over Mood", 5),
    ("Overcoming Depression", 3),
    ("Overcoming Social Anxiety", 2),
    ("The Worry Cure", 4),
    ("practitioner handout", 1),
)
_OTHER = (
    "Bring a list of goals for next session",
    "Complete the values worksheet",
    "Ask GP about sleep",
    "Fill in the weekly activity chart",
    "Write down questions for the review",
    "Try the self-help app for a week",
)
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "thought_record": (
        "Thought record for {day}'s {situation}, {n} columns",
        "Thought record: {situation} ({day})",
        "{n}-column thought record after any low mood dip",
        "Catch and rate hot thoughts; example: {situation}",
    ),
    "behavioural_activation": (
        "Schedule {activity} on {day}",
        "Activity diary plus {activity}, rate mastery and pleasure",
        "BA: {activity}, {n} times this week",
        "Plan {activity} for {day} morning",
    ),
    "exposure": (
        "Exposure: {exposure}, stay until anxiety halves",
        "Step {n} of ladder: {exposure}",
        "{exposure} on {day}, rate SUDS before and after",
        "Drop safety behaviours while {exposure}",
    ),
    "relaxation": (
        "{relax} daily, {n} minutes",
        "Practise {relax} before bed",
        "{relax} with the recording, rate tension 0-10",
    ),
    "diary_card": (
        "Daily diary card, mood and urges",
        "Diary card incl. sleep hours, {n} ratings a day",
        "Mood diary; note {day}'s {situation}",
    ),
    "journal": (
        "Journal three good things each evening",
        "Worry journal, {n} entries",
        "Journal about {day}'s {situation}",
    ),
    "skills_practice": (
        "Practise {skill} ({n} times)",
        "{skill} with worksheet",
        "Use {skill} for the {situation}",
    ),
    "reading": ("Read chapter {chapter} of {book}", "Read the {book} handout on low mood, note questions"),
    "other": ("{other}",),
}
# Rare variants that exercise CSV quoting: embedded double quotes and line breaks.
_SPECIALS: dict[str, tuple[str, ...]] = {
    "thought_record": ('Thought record: notice the "I\'m useless" thought, rate belief 0-100%',),
    "behavioural_activation": ("Week plan:\nMon walk, Wed swim, Sat market",),
    "exposure": ('Ladder step 4: "the big shop"\nno list, no companion',),
    "relaxation": ('Use the "calm place" recording, 10 min',),
    "diary_card": ("Diary card\n(bring it next week)",),
    "journal": ('Journal: "what went well today?"',),
    "skills_practice": ('Say "no" once this week, assertively',),
    "reading": ('Read "Mind Over Mood", ch. 7, then summarise',),
    "other": ('Client\'s own idea: "just get outside"',),
}
VARIANTS_PER_TYPE = 160
SPECIAL_SHARE = 0.015


def _description_bank(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rendered description variants for every homework type.

    Returns (texts, offsets): type t's variants are texts[offsets[t]:offsets[t+1]], regular
    variants first and the special (quote / newline) ones last.
    """
    texts: list[str] = []
    offsets = [0]
    for name in HOMEWORK_TYPES:
        seen: dict[str, None] = {}
        templates = _TEMPLATES[name]
        for _ in range(VARIANTS_PER_TYPE * 3):
            book, chapter = _READINGS[rng.integers(len(_READINGS))]
            text = templates[rng.integers(len(templates))].format(
                day=_DAYS[rng.integers(7)],
                situation=_SITUATIONS[rng.integers(len(_SITUATIONS))],
                activity=_ACTIVITIES[rng.integers(len(_ACTIVITIES))],
                exposure=_EXPOSURES[rng.integers(len(_EXPOSURES))],
                relax=_RELAX[rng.integers(len(_RELAX))],
                skill=_SKILLS[rng.integers(len(_SKILLS))],
                other=_OTHER[rng.integers(len(_OTHER))],
                book=book,
                chapter=int(rng.integers(1, chapter + 1)) if chapter > 1 else 1,
                n=int(rng.integers(3, 6)),
            )
            seen.setdefault(text[0].upper() + text[1:], None)
            if len(seen) >= VARIANTS_PER_TYPE:
                break
        texts.extend(seen)
        texts.extend(_SPECIALS[name])
        offsets.append(len(texts))
    return np.array(texts, dtype=object), np.array(offsets)


# ------------------------------------------------------------------------- items


def _item_scores(
    rng: np.random.Generator, totals: np.ndarray, weights: np.ndarray, levels: int = 3, chunk: int = 250_000
) -> np.ndarray:
    """Item scores (0..levels each) summing exactly to ``totals``.

    Each item has ``levels`` unit slots whose keys increase within the item (cumulative
    exponential gaps / item weight); a row's ``total`` smallest keys are its units, so a
    heavier-weighted item fills first and an item can only hold unit k if it holds k-1.
    """
    n, n_items = weights.shape
    out = np.zeros((n, n_items), dtype=np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        m = hi - lo
        gaps = rng.standard_exponential((m, n_items, levels))
        keys = (np.cumsum(gaps, axis=2) / weights[lo:hi, :, None]).reshape(m, n_items * levels)
        t = totals[lo:hi]
        ranked = np.sort(keys, axis=1)
        thr = ranked[np.arange(m), np.clip(t - 1, 0, None)]
        thr = np.where(t > 0, thr, -1.0)
        out[lo:hi] = (keys <= thr[:, None]).reshape(m, n_items, levels).sum(axis=2)
    return out


# ------------------------------------------------------------------------ generator


@dataclass(frozen=True)
class Network:
    """The clinic network clients are drawn into: therapists, their clinic and their habits.

    Drawn once for the whole export (:func:`draw_network`), so a chunked export
    (:func:`write_export` with ``chunk_clients``) spreads every chunk's clients over the same
    therapists, clinics and group cohorts, as one unchunked draw of all the clients would.
    """

    n_clients: int  # the clients the network is sized for (caseload ~CLIENTS_PER_THERAPIST)
    n_ther: int
    ther_clinic: np.ndarray
    caseload: np.ndarray
    runs_groups: np.ndarray
    group_weeks: int
    group_anchor: np.ndarray
    hw_per_session: np.ndarray
    thoroughness: np.ndarray
    ther_quantity: np.ndarray
    leniency: np.ndarray
    p_count: np.ndarray
    p_also_count: np.ndarray
    rater_probs: np.ndarray
    type_taste: np.ndarray
    p_review: np.ndarray
    p_scored: np.ndarray
    ther_outcome: np.ndarray


def draw_network(rng: np.random.Generator, n_clients: int) -> Network:
    """Therapists for ``n_clients`` clients: the first draws of a clinic's stream."""
    n = int(n_clients)
    n_ther = max(len(CLINICS), round(n / CLIENTS_PER_THERAPIST))
    share = CLINIC_WEIGHTS * n_ther
    per_clinic = np.maximum(1, np.floor(share).astype(np.int64))
    while per_clinic.sum() < n_ther:  # largest remainder
        per_clinic[np.argmax(share - per_clinic)] += 1
    while per_clinic.sum() > n_ther:
        per_clinic[np.argmax(per_clinic)] -= 1
    ther_clinic = np.repeat(np.arange(len(CLINICS)), per_clinic)
    caseload = rng.gamma(10.0, 1.0, n_ther)
    # A few therapists facilitate Group CBT: most of their caseload joins a cohort that
    # starts together on a Monday and meets weekly; cohorts of ~8 given their caseload.
    runs_groups = np.zeros(n_ther, dtype=bool)
    runs_groups[rng.permutation(n_ther)[: max(1, round(GROUP_THERAPIST_SHARE * n_ther))]] = True
    group_weeks = int(np.clip(round(GROUP_SIZE * INTAKE_SPAN_DAYS / 7 / (0.8 * CLIENTS_PER_THERAPIST)), 4, 52))
    group_anchor = 4 + rng.integers(0, group_weeks, n_ther) * 7  # 1970-01-05 was a Monday
    hw_per_session = np.clip(rng.normal(2.45, 0.3, n_ther), 1.0, 2.95)
    thoroughness = rng.beta(2.2, 1.8, n_ther)
    ther_quantity = rng.normal(0.0, 0.25, n_ther)
    leniency = rng.normal(0.0, 0.25, n_ther)
    counts_heavy = rng.random(n_ther) < 0.3
    p_count = np.where(counts_heavy, rng.beta(5, 4, n_ther), rng.beta(1, 14, n_ther))
    p_also_count = rng.beta(1, 8, n_ther)
    rater_style = rng.choice(3, n_ther, p=[0.6, 0.25, 0.15])
    rater_probs = rng.dirichlet([1.5, 1.5, 1.5], n_ther) * 0.35
    rater_probs[np.arange(n_ther), rater_style] += 0.65
    type_taste = rng.gamma(2.5, 0.4, (n_ther, len(HOMEWORK_TYPES)))
    p_review = rng.beta(25, 2, n_ther)
    p_scored = rng.beta(8, 2.5, n_ther)
    ther_outcome = rng.normal(0.0, 0.04, n_ther)
    return Network(
        n_clients=n, n_ther=n_ther, ther_clinic=ther_clinic, caseload=caseload, runs_groups=runs_groups,
        group_weeks=group_weeks, group_anchor=group_anchor, hw_per_session=hw_per_session,
        thoroughness=thoroughness, ther_quantity=ther_quantity, leniency=leniency, p_count=p_count,
        p_also_count=p_also_count, rater_probs=rater_probs, type_taste=type_taste, p_review=p_review,
        p_scored=p_scored, ther_outcome=ther_outcome
    )


def generate_clinic(n_clients: int = 600, seed: int = 7, as_of: date = AS_OF,
                    planted: bool = False) -> dict[str, pd.DataFrame]:
    """A deterministic fictional clinic export: ``{"clients", "sessions", "assignments", "scores"}``.

    ``planted=True`` adds a fifth frame, "planted" (never exported): per client the course that was
    planted: deteriorating, and the sudden gain's share of the improvement and week (0 = none), so
    tests can check that the analytics find what was put there.

    Columns are exactly :data:`COLUMNS`, in order. Dates are ``datetime64`` (NaT = empty),
    booleans ``bool``, optional integers nullable ``Int64``, text ``str`` (NaN = empty).
    """
    if n_clients < 1:
        raise ValueError("n_clients must be at least 1")
    rng = np.random.default_rng(seed)
    network = draw_network(rng, n_clients)
    return _draw_clients(rng, network, int(n_clients), (seed,), as_of, planted=planted)


def _draw_clients(
    rng: np.random.Generator, network: Network, n: int, stream_key: tuple[int, ...], as_of: date, *,
    planted: bool = False, client_offset: int = 0, assignment_offset: int = 0, assignment_width: int | None = None,
) -> dict[str, pd.DataFrame]:
    """``n`` clients of ``network`` and their sessions, assignments and scores, drawn from ``rng``
    (the sudden gains and CORE-10 from streams of their own, keyed ``(*stream_key, GAIN_STREAM)`` and
    ``(*stream_key, CORE10_STREAM)``). Clients are numbered from ``client_offset + 1`` (id width from
    the network's size) and assignments from ``assignment_offset + 1`` (width ``assignment_width``, or
    from their count when None)."""
    as_of_day = int(np.datetime64(as_of, "D").astype(np.int64))
    (
        n_ther, ther_clinic, runs_groups, group_weeks, group_anchor, hw_per_session, thoroughness,
        ther_quantity, leniency, p_count, p_also_count, rater_probs, type_taste, p_review, p_scored,
        ther_outcome
    ) = (
        network.n_ther, network.ther_clinic, network.runs_groups, network.group_weeks,
        network.group_anchor, network.hw_per_session, network.thoroughness, network.ther_quantity,
        network.leniency, network.p_count, network.p_also_count, network.rater_probs,
        network.type_taste, network.p_review, network.p_scored, network.ther_outcome
    )
    caseload = network.caseload

    # ------------------------------------------------------------------- clients
    ther = rng.choice(n_ther, n, p=caseload / caseload.sum())
    u = rng.random(n)
    program = np.where(runs_groups[ther] & (u < 0.8), 2, np.where(rng.random(n) < 0.52, 0, 1))
    concern = _choice_rows(rng, CONCERN_GIVEN_PROGRAM[program])
    depressive = DEPRESSIVE[concern]
    mixed = concern == 1
    has_phq = depressive | (rng.random(n) < 0.7)
    has_gad = ~depressive | mixed | (rng.random(n) < 0.7)

    engagement = rng.standard_normal(n)
    skill = 0.5 * engagement + np.sqrt(0.75) * rng.standard_normal(n)

    intake = as_of_day - rng.integers(7, INTAKE_SPAN_DAYS, n)
    intake = intake - _weekday(intake) + rng.integers(0, 5, n)  # a weekday of that week
    group = program == 2
    period = 7 * group_weeks
    anchor = group_anchor[ther]
    cohort = anchor - ((anchor - intake) // period) * period  # the next cohort start
    cohort = np.where(cohort > as_of_day - 7, cohort - period, cohort)
    intake = np.where(group, cohort, intake)

    planned = np.where(group, 10, 8 + rng.binomial(12, 0.6, n))
    dropout = rng.random(n) < expit(-1.45 - 0.6 * engagement)
    drop_attended = rng.integers(2, 7, n)
    drop_tail = rng.integers(1, 3, n)
    dropout &= drop_attended + drop_tail < planned
    n_sched = np.where(dropout, drop_attended + drop_tail, planned)

    # ------------------------------------------------------------------ sessions
    starts = _starts(n_sched)
    s_client = np.repeat(np.arange(n), n_sched)
    k = np.arange(len(s_client)) - np.repeat(starts, n_sched)
    s_group = group[s_client]
    skipped = (rng.random(len(k)) < 0.04) & (k > 0) & ~s_group  # a week off (holiday, illness)
    week = k + _group_cumsum(skipped.astype(np.int64), starts, n_sched)
    jitter = np.where(s_group | (k == 0), 0, rng.choice([-1, 0, 1], len(k), p=[0.1, 0.8, 0.1]))
    s_day = intake[s_client] + 7 * week + jitter
    s_day = np.where(_weekday(s_day) >= 5, s_day - jitter, s_day)
    last_sched = np.zeros(n, dtype=np.int64)
    last_sched[s_client] = s_day  # rows are in date order within a client

    p_miss = expit(np.log(0.11 / 0.89) - 0.45 * engagement)
    attended = rng.random(len(k)) >= p_miss[s_client]
    attended[k == 0] = True
    is_last = k == n_sched[s_client] - 1
    attended[is_last & ~dropout[s_client]] = True
    attended[dropout[s_client] & (k >= drop_attended[s_client])] = False

    discharge = np.where(dropout, last_sched + rng.integers(7, 29, n), last_sched)
    discharged = discharge <= as_of_day
    keep = s_day <= as_of_day
    s_client, k, s_day, attended, is_last = s_client[keep], k[keep], s_day[keep], attended[keep], is_last[keep]

    # ---------------------------------------------------------- attended sessions
    a_client, a_day, a_k = s_client[attended], s_day[attended], k[attended]
    a_last = is_last[attended]
    n_att = np.bincount(a_client, minlength=n)
    a_starts = _starts(n_att)
    n_a = len(a_client)
    same_next = np.zeros(n_a, dtype=bool)
    same_next[:-1] = a_client[1:] == a_client[:-1]
    next_day = np.full(n_a, -1, dtype=np.int64)
    next_day[:-1] = a_day[1:]
    next_day[~same_next] = -1
    a_ther = ther[a_client]

    n_hw = rng.binomial(3, hw_per_session[a_ther] / 3.0)
    closing = a_last & ~dropout[a_client]  # discharge session: a relapse-prevention plan instead
    n_hw[closing & (rng.random(n_a) >= 0.15)] = 0

    # ---------------------------------------------------------------- assignments
    h_sess = np.repeat(np.arange(n_a), n_hw)
    n_h = len(h_sess)
    h_client = a_client[h_sess]
    h_ther = a_ther[h_sess]
    h_day = a_day[h_sess]

    type_probs = TYPE_BASE[:, None, :] * type_taste[None, :, :]
    type_probs /= type_probs.sum(axis=2, keepdims=True)  # (2, n_ther, types)
    h_type = _choice_rows(rng, type_probs[(~depressive[h_client]).astype(np.int64), h_ther])

    design = rng.normal(0.0, 0.9, n_h)
    base_logit = np.log(thoroughness / (1 - thoroughness))[h_ther] + design
    flags = base_logit[:, None] + CHECKLIST_OFFSETS[None, :] + rng.normal(0.0, 0.9, (n_h, 5)) > 0
    n_checklist = flags.sum(axis=1)
    involves_others = rng.random(n_h) < TYPE_INVOLVES_OTHERS[h_type]
    lo, hi = TYPE_PLANNED[h_type, 0], TYPE_PLANNED[h_type, 1]
    planned_practices = lo + (rng.random(n_h) * (hi - lo + 1)).astype(np.int64)

    week_shock = rng.normal(0.0, Q_WEEK, n_a)
    q_latent = (
        Q_MEAN
        + Q_CLIENT * engagement[h_client]
        + ther_quantity[h_ther]
        + Q_CHECKLIST * (n_checklist - 2.5)
        + TYPE_QUANTITY_EFFECT[h_type]
        + week_shock[h_sess]
        + rng.normal(0.0, Q_NOISE, n_h)
    )
    qual_latent = 0.1 + 0.45 * (q_latent - Q_MEAN) + 0.6 * skill[h_client] + rng.normal(0.0, 0.7, n_h)
    q_frac = ndtr(q_latent)
    qual_frac = ndtr(qual_latent)

    reviewed = (next_day[h_sess] >= 0) & (rng.random(n_h) < p_review[h_ther])
    counted = reviewed & (rng.random(n_h) < p_count[h_ther])
    rated = reviewed & ~counted
    counted |= rated & (rng.random(n_h) < p_also_count[h_ther])
    rater = _choice_rows(rng, rater_probs[h_ther])
    rater_bias = np.array([0.0, 0.3, 0.15])[rater]
    q_rating = np.clip(np.rint(4 * q_frac + leniency[h_ther] + rater_bias + rng.normal(0, 0.4, n_h)), 0, 4)
    mult = rng.uniform(0.85, 1.2, n_h)
    completed = np.floor(planned_practices * q_frac * mult + rng.random(n_h)).astype(np.int64)
    nothing_done = np.where(rated, q_rating == 0, completed == 0)
    quality_rated = reviewed & ~nothing_done & (rng.random(n_h) < np.where(rated, 0.93, 0.35))
    qual_rating = np.clip(np.rint(4 * qual_frac + leniency[h_ther] + rater_bias + rng.normal(0, 0.4, n_h)), 0, 4)
    has_rater = rated | quality_rated

    descriptions, desc_offsets = _description_bank(rng)
    n_variants = desc_offsets[1:] - desc_offsets[:-1]
    n_regular = n_variants - np.array([len(_SPECIALS[t]) for t in HOMEWORK_TYPES])
    special = rng.random(n_h) < SPECIAL_SHARE
    pick = np.where(
        special,
        n_regular[h_type] + (rng.random(n_h) * (n_variants - n_regular)[h_type]).astype(np.int64),
        (rng.random(n_h) * n_regular[h_type]).astype(np.int64),
    )
    h_desc = descriptions[desc_offsets[h_type] + pick]

    # ------------------------------------------------------------------ outcomes
    n_hw_client = np.bincount(h_client, minlength=n)
    expected_q = Q_MEAN + Q_CLIENT * engagement + ther_quantity[ther]
    q_client = np.where(n_hw_client > 0, np.bincount(h_client, q_latent, n) / np.maximum(n_hw_client, 1), expected_q)
    qual_client = np.where(
        n_hw_client > 0, np.bincount(h_client, qual_latent, n) / np.maximum(n_hw_client, 1), 0.1 + 0.6 * skill
    )
    zq = (q_client - q_client.mean()) / (q_client.std() or 1.0)
    zs = (qual_client - qual_client.mean()) / (qual_client.std() or 1.0)
    progress = (
        PROGRESS_MEAN
        + PROGRESS_QUANTITY * zq
        + PROGRESS_QUALITY * zs
        + ther_outcome[ther]
        + rng.normal(0.0, PROGRESS_SD, n)
    )
    worse = rng.random(n) < DETERIORATE_SHARE  # life events, wrong treatment: a few get worse
    progress = np.where(worse, rng.normal(-0.45, 0.2, n), progress)
    progress_gad = progress + rng.normal(0.0, 0.1, n)
    shapes = np.random.default_rng([*stream_key, GAIN_STREAM])
    gain_part = np.where(~worse & (progress > 0.3) & (shapes.random(n) < GAIN_SHARE / 0.75),
                         shapes.uniform(*GAIN_PART, n), 0.0)  # ~75% of non-deteriorating clients improve > 0.3
    gain_week = shapes.integers(*GAIN_WEEKS, n).astype(float)

    # A week's homework vs the client's usual, felt from the next attended session on.
    sess_q = np.bincount(h_sess, q_latent, n_a)
    dev = np.where(n_hw > 0, sess_q / np.maximum(n_hw, 1) - q_client[a_client], 0.0)
    dev_prev = np.zeros(n_a)
    dev_prev[1:] = dev[:-1]
    dev_prev[a_starts[n_att > 0]] = 0.0
    lag_cum = _group_cumsum(dev_prev, a_starts, n_att)

    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    phq_intake = np.where(depressive, 15.6 + 5.0 * z1, 11.5 + 5.0 * z1)
    gad_z = 0.6 * z1 + 0.8 * z2
    gad_intake = np.where(depressive, 10.5 + 4.5 * gad_z, 13.3 + 4.0 * gad_z)

    full_course = 1.0 - np.exp(-14.0 / TAU_WEEKS)

    def level(intake_level: np.ndarray, prog: np.ndarray, weeks: np.ndarray, lag: np.ndarray,
              part: np.ndarray, at_week: np.ndarray) -> np.ndarray:
        shape = (1.0 - np.exp(-np.maximum(weeks, 0.0) / TAU_WEEKS)) / full_course
        shape = (1.0 - part) * shape + part * (weeks >= at_week)  # a sudden gain: part of it at once
        return intake_level * (1.0 - prog * shape - LAG * lag)

    scored = (a_k == 0) | (rng.random(n_a) < p_scored[ther[a_client]])
    both_today = (a_k == 0) | (rng.random(n_a) < 0.85)
    weeks = (a_day - intake[a_client]) / 7.0
    rows_client, rows_measure, rows_day, rows_true = [], [], [], []
    for m, has, primary, base, prog in (
        (0, has_phq, depressive, phq_intake, progress),
        (1, has_gad, ~depressive | mixed, gad_intake, progress_gad),
    ):
        pick_rows = scored & has[a_client] & (primary[a_client] | both_today)
        c = a_client[pick_rows]
        rows_client.append(c)
        rows_measure.append(np.full(len(c), m))
        rows_day.append(a_day[pick_rows])
        rows_true.append(level(base[c], prog[c], weeks[pick_rows], lag_cum[pick_rows], gain_part[c], gain_week[c]))

    # Follow-up 1-12 months after discharge for about a quarter of discharged clients.
    follow = discharged & (rng.random(n) < np.where(dropout, 0.15, 0.37))
    fu_day = discharge + rng.integers(30, 366, n)
    follow &= fu_day <= as_of_day
    relapse = rng.normal(0.1, 0.25, n)
    end_weeks = (discharge - intake) / 7.0
    end_lag = np.zeros(n)
    has_att = n_att > 0
    end_lag[has_att] = lag_cum[a_starts[has_att] + n_att[has_att] - 1]
    for m, has, base, prog in ((0, has_phq, phq_intake, progress), (1, has_gad, gad_intake, progress_gad)):
        c = np.flatnonzero(follow & has)
        rows_client.append(c)
        rows_measure.append(np.full(len(c), m))
        rows_day.append(fu_day[c])
        rows_true.append(level(base[c], prog[c] * (1 - relapse[c]), end_weeks[c], end_lag[c], gain_part[c],
                               gain_week[c]))

    sc_client = np.concatenate(rows_client)
    sc_measure = np.concatenate(rows_measure)
    sc_day = np.concatenate(rows_day)
    sc_true = np.concatenate(rows_true)
    order = np.lexsort((sc_measure, sc_day, sc_client))
    sc_client, sc_measure, sc_day, sc_true = sc_client[order], sc_measure[order], sc_day[order], sc_true[order]
    noise_sd = np.where(sc_measure == 0, 1.9, 1.6)
    sc_total = np.clip(np.rint(sc_true + rng.normal(0.0, 1.0, len(sc_true)) * noise_sd), 0, MEASURE_MAX[sc_measure])
    sc_total = sc_total.astype(np.int64)

    # Item profiles: each client answers some items higher; item 9 (self-harm) is rare,
    # concentrated in a few at-risk clients.
    phq_w = np.array([1.0, 1.1, 1.25, 1.3, 0.9, 0.95, 0.8, 0.55, 0.0]) * rng.gamma(8.0, 1 / 8.0, (n, 9))
    at_risk = rng.random(n) < 0.06
    phq_w[:, 8] = np.where(at_risk, rng.uniform(0.2, 0.7, n), 0.006)
    gad_w = np.array([1.2, 1.0, 1.25, 1.0, 0.7, 1.05, 0.85]) * rng.gamma(8.0, 1 / 8.0, (n, 7))
    items = np.zeros((len(sc_total), 9), dtype=np.int64)
    item_ok = np.zeros((len(sc_total), 9), dtype=bool)
    is_phq = sc_measure == 0
    items[is_phq] = _item_scores(rng, sc_total[is_phq], phq_w[sc_client[is_phq]])
    item_ok[is_phq] = True
    items[~is_phq, :7] = _item_scores(rng, sc_total[~is_phq], gad_w[sc_client[~is_phq]])
    item_ok[~is_phq, :7] = True

    # ----------------------------------------------------------------- CORE-10
    core = np.random.default_rng([*stream_key, CORE10_STREAM])
    in_core = program == CORE10_PROGRAM
    core_z = (0.7 * z1 + 0.5 * z2 + core.normal(0.0, np.sqrt(1 - 0.7**2 - 0.5**2), n))
    core_intake = CORE10_INTAKE[0] + CORE10_INTAKE[1] * core_z  # tracks the client's PHQ-9/GAD-7 intake
    core_rows = scored & in_core[a_client]
    core_fu = np.flatnonzero(follow & in_core)
    cc = a_client[core_rows]
    core_client = np.concatenate([cc, core_fu])
    core_day = np.concatenate([a_day[core_rows], fu_day[core_fu]])
    core_true = np.concatenate([
        level(core_intake[cc], progress[cc], weeks[core_rows], lag_cum[core_rows], gain_part[cc], gain_week[cc]),
        level(core_intake[core_fu], progress[core_fu] * (1 - relapse[core_fu]), end_weeks[core_fu], end_lag[core_fu],
              gain_part[core_fu], gain_week[core_fu]),
    ])
    core_total = np.clip(np.rint(core_true + core.normal(0.0, CORE10_NOISE_SD, len(core_true))), 0, MEASURE_MAX[2])
    sc_client = np.concatenate([sc_client, core_client])
    sc_measure = np.concatenate([sc_measure, np.full(len(core_client), 2)])
    sc_day = np.concatenate([sc_day, core_day])
    sc_total = np.concatenate([sc_total, core_total.astype(np.int64)])
    items = np.concatenate([items, np.zeros((len(core_client), 9), dtype=np.int64)])
    item_ok = np.concatenate([item_ok, np.zeros((len(core_client), 9), dtype=bool)])
    order = np.lexsort((sc_measure, sc_day, sc_client))  # stable: the other rows keep their order
    sc_client, sc_measure, sc_day, sc_total = sc_client[order], sc_measure[order], sc_day[order], sc_total[order]
    items, item_ok = items[order], item_ok[order]

    # ---------------------------------------------------------------- frames
    cid = _ids("C", np.arange(client_offset + 1, client_offset + n + 1), max(6, len(str(network.n_clients))))
    tid = _ids("T", np.arange(1, n_ther + 1), max(3, len(str(n_ther))))
    clients = pd.DataFrame(
        {
            "client_id": pd.array(cid, dtype="str"),
            "clinic": pd.array(np.array(CLINICS, dtype=object)[ther_clinic[ther]], dtype="str"),
            "therapist_id": pd.array(tid[ther], dtype="str"),
            "program": pd.array(np.array(PROGRAMS, dtype=object)[program], dtype="str"),
            "primary_concern": pd.array(np.array(CONCERNS, dtype=object)[concern], dtype="str"),
            "intake_date": _to_dates(intake),
            "discharge_date": _to_dates(np.where(discharged, discharge, np.nan)),
        }
    )
    sessions = pd.DataFrame(
        {
            "client_id": pd.array(cid[s_client], dtype="str"),
            "session_date": _to_dates(s_day),
            "attended": attended,
            "session_number": (k + 1).astype(np.int64),
        }
    )
    rater_names = np.array(RATERS, dtype=object)[rater]
    rater_names[~has_rater] = None
    assignments = pd.DataFrame(
        {
            "assignment_id": pd.array(_ids("A", np.arange(assignment_offset + 1, assignment_offset + n_h + 1),
                                             assignment_width or max(7, len(str(n_h)))), dtype="str"),
            "client_id": pd.array(cid[h_client], dtype="str"),
            "assigned_date": _to_dates(h_day),
            "homework_type": pd.array(np.array(HOMEWORK_TYPES, dtype=object)[h_type], dtype="str"),
            **{name: flags[:, i] for i, name in enumerate(CHECKLIST)},
            "involves_others": involves_others,
            "planned_practices": planned_practices.astype(np.int64),
            "completed_practices": _nullable(completed, counted),
            "quantity_rating": _nullable(q_rating.astype(np.int64), rated),
            "quality_rating": _nullable(qual_rating.astype(np.int64), quality_rated),
            "rated_by": pd.array(rater_names, dtype="str"),
            "reviewed_date": _to_dates(np.where(reviewed, next_day[h_sess], np.nan)),
            "description": pd.array(h_desc, dtype="str"),
        }
    )
    scores = pd.DataFrame(
        {
            "client_id": pd.array(cid[sc_client], dtype="str"),
            "measure": pd.array(np.array(MEASURES, dtype=object)[sc_measure], dtype="str"),
            "administered_date": _to_dates(sc_day),
            "total_score": sc_total,
            **{f"item_{i + 1}": _nullable(items[:, i], item_ok[:, i]) for i in range(9)},
        }
    )
    frames = {"clients": clients, "sessions": sessions, "assignments": assignments, "scores": scores}
    if planted:
        frames["planted"] = pd.DataFrame({
            "client_id": pd.array(cid, dtype="str"), "deteriorating": worse, "progress": progress,
            "gain_part": gain_part, "gain_week": np.where(gain_part > 0, gain_week, np.nan),
        })
    return frames


# ------------------------------------------------------------------------ writing


def _csv_column(series: pd.Series) -> pa.Array:
    """One column as CSV field text (null = empty field), quoted per RFC 4180 when needed."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return pa.array(np.where(series.to_numpy(), "true", "false"), type=pa.string())
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.to_numpy().astype("datetime64[D]")
        return pc.cast(pa.array(values, type=pa.date32(), from_pandas=True), pa.string())
    if pd.api.types.is_integer_dtype(series.dtype):
        return pc.cast(pa.array(series, type=pa.int64(), from_pandas=True), pa.string())
    text = pc.cast(pa.array(series, type=pa.string(), from_pandas=True), pa.string())
    needs = pc.fill_null(pc.match_substring_regex(text, r'[",\r\n]'), False)
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        text = pc.if_else(needs, quoted, text)
    return text


def _header_field(name: str) -> str:
    return f'"{name.replace(chr(34), chr(34) * 2)}"' if any(ch in name for ch in '",\r\n') else name


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as UTF-8 CSV: header row, ISO dates, true/false, empty = missing, LF line ends."""
    path = Path(path)
    with path.open("wb") as fh:
        fh.write(_header_line(frame.columns))
        _write_rows(fh, frame)
    return path


def _header_line(columns) -> bytes:
    return (",".join(_header_field(str(c)) for c in columns) + "\n").encode("utf-8")


def _write_rows(fh, frame: pd.DataFrame) -> None:
    """The frame's rows as CSV lines (no header), appended to the open binary file ``fh``."""
    step = 500_000
    for lo in range(0, len(frame), step):
        part = frame.iloc[lo : lo + step]
        fields = [_csv_column(part[c]) for c in part.columns]
        lines = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
        lines = pc.binary_join_element_wise(lines, pa.scalar("\n", pa.string()), "")
        lines = pc.cast(lines, pa.large_string())
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
        data = lines.buffers()[2]
        if data is not None:
            fh.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


# A chunked export draws each chunk's clients from a stream of its own, keyed
# (seed, CHUNK_STREAM, chunk index) through numpy's SeedSequence; chunk 0 uses the clinic's own
# stream (seed), whose first draws are the network, so a one-chunk export is the unchunked one.
CHUNK_STREAM = 19
# Assignments per client can never exceed this (20 planned sessions, 3 assignments each): it
# fixes the width of assignment ids before a chunked export knows how many there will be.
MAX_ASSIGNMENTS_PER_CLIENT = 60


def generate_chunks(n_clients: int, seed: int = 7, as_of: date = AS_OF, chunk_clients: int | None = None):
    """The clinic of :func:`generate_clinic` drawn ``chunk_clients`` clients at a time (bounded
    memory): yields one ``{"clients", "sessions", "assignments", "scores"}`` dict per chunk.

    One network (:func:`draw_network`, sized for all ``n_clients``) is shared by every chunk, so
    therapists, clinics and group cohorts span chunks as they would in one draw; client and
    assignment ids run on across chunks (unique, one width). With ``chunk_clients`` None or
    ``>= n_clients`` the single chunk is exactly :func:`generate_clinic`'s output.
    """
    if n_clients < 1:
        raise ValueError("n_clients must be at least 1")
    n_clients = int(n_clients)
    size = n_clients if chunk_clients is None else max(1, int(chunk_clients))
    if size >= n_clients:
        yield generate_clinic(n_clients=n_clients, seed=seed, as_of=as_of)
        return
    rng = np.random.default_rng(seed)
    network = draw_network(rng, n_clients)
    width = max(7, len(str(MAX_ASSIGNMENTS_PER_CLIENT * n_clients)))
    assignments_before = 0
    for index, lo in enumerate(range(0, n_clients, size)):
        n = min(size, n_clients - lo)
        key = (seed,) if index == 0 else (seed, CHUNK_STREAM, index)
        chunk_rng = rng if index == 0 else np.random.default_rng(np.random.SeedSequence(list(key)))
        frames = _draw_clients(chunk_rng, network, n, key, as_of, client_offset=lo,
                               assignment_offset=assignments_before, assignment_width=width)
        assignments_before += len(frames["assignments"])
        yield frames
        del frames  # the next chunk is drawn without this one in memory


def write_export(out_dir: Path, n_clients: int = 600, seed: int = 7, as_of: date = AS_OF,
                 chunk_clients: int | None = None) -> list[Path]:
    """Generate the clinic and write clients.csv, sessions.csv, assignments.csv, scores.csv.

    ``chunk_clients``: generate and append ``chunk_clients`` clients at a time
    (:func:`generate_chunks`), so memory is bounded by a chunk, not by the clinic; None (the
    default) draws the whole clinic at once. A single chunk writes the same bytes as None.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.csv" for name in TABLES]
    handles = [path.open("wb") for path in paths]
    try:
        for fh, name in zip(handles, TABLES, strict=True):
            fh.write(_header_line(COLUMNS[name]))
        for frames in generate_chunks(n_clients, seed, as_of, chunk_clients):
            for fh, name in zip(handles, TABLES, strict=True):
                _write_rows(fh, frames[name])
            del frames
    finally:
        for fh in handles:
            fh.close()
    return paths


# ------------------------------------------------------------ vendor-shaped example

# The worked mapping-profile example (sample_data/profiles/carepath.toml): a fictional
# record system, "CarePath EHR", that names tables, columns and values its own way.
CAREPATH_FILES = {
    "clients": "Patients",
    "sessions": "Appointments",
    "assignments": "HomeworkTasks",
    "scores": "Questionnaires",
}
CAREPATH_COLUMNS: dict[str, dict[str, str]] = {  # ours -> theirs
    "clients": {
        "client_id": "Patient Ref",
        "clinic": "Site",
        "therapist_id": "Clinician Code",
        "program": "Pathway",
        "primary_concern": "Presenting Problem",
        "intake_date": "Referral Accepted",
        "discharge_date": "Discharged On",
    },
    "sessions": {
        "client_id": "Patient Ref",
        "session_date": "Appointment Date",
        "attended": "Outcome",
        "session_number": "Appt No",
    },
    "assignments": {
        "assignment_id": "Task ID",
        "client_id": "Patient Ref",
        "assigned_date": "Set On",
        "homework_type": "Task Type",
        "goal_linked": "Linked To Goal",
        "rationale_given": "Rationale Explained",
        "rehearsed_in_session": "Rehearsed In Session",
        "practice_scheduled": "Practice Times Agreed",
        "obstacles_planned": "Barriers Discussed",
        "involves_others": "Involves Others",
        "planned_practices": "Target Practices",
        "completed_practices": "Practices Done",
        "quantity_rating": "Amount Done (0-4)",
        "quality_rating": "How Well Done (0-4)",
        "rated_by": "Rated By",
        "reviewed_date": "Reviewed On",
        "description": "Task Notes",
    },
    "scores": {
        "client_id": "Patient Ref",
        "measure": "Questionnaire",
        "administered_date": "Completed On",
        "total_score": "Score",
        **{f"item_{i}": f"Q{i}" for i in range(1, 10)},
    },
}
# Vendor-only columns the profile does not map (an import ignores and reports them).
CAREPATH_EXTRA = {
    "clients": ("Referral Source", ("GP", "Self-referral", "Employer", "Secondary care")),
    "sessions": ("Appointment Type", ("Face to face", "Video", "Telephone")),
    "assignments": ("Last Edited By", ("reception", "clinician", "admin")),
    "scores": ("Completed Via", ("Paper", "Online", "Tablet in clinic")),
}
CAREPATH_VALUES: dict[str, dict[str, str]] = {  # ours -> theirs
    "homework_type": {
        "thought_record": "Thought Diary",
        "behavioural_activation": "Activity Scheduling",
        "exposure": "Graded Exposure",
        "relaxation": "Relaxation Practice",
        "diary_card": "Daily Diary Card",
        "journal": "Reflective Journal",
        "skills_practice": "Skills Rehearsal",
        "reading": "Bibliotherapy",
        "other": "Other (see notes)",
    },
    "measure": {"PHQ-9": "PHQ9 Total", "GAD-7": "GAD7 Total", "CORE-10": "CORE10 Total"},
    "rated_by": {"therapist": "Clinician", "client": "Patient", "both": "Joint"},
}
# Column order in the vendor's files (not ours).
CAREPATH_ORDER = {
    "clients": (
        "Patient Ref",
        "Referral Accepted",
        "Site",
        "Clinician Code",
        "Pathway",
        "Presenting Problem",
        "Referral Source",
        "Discharged On",
    ),
    "sessions": ("Patient Ref", "Appt No", "Appointment Date", "Appointment Type", "Outcome"),
    "assignments": (
        "Task ID",
        "Patient Ref",
        "Set On",
        "Task Type",
        "Task Notes",
        "Linked To Goal",
        "Rationale Explained",
        "Rehearsed In Session",
        "Practice Times Agreed",
        "Barriers Discussed",
        "Involves Others",
        "Target Practices",
        "Reviewed On",
        "Practices Done",
        "Amount Done (0-4)",
        "How Well Done (0-4)",
        "Rated By",
        "Last Edited By",
    ),
    "scores": (
        "Patient Ref",
        "Questionnaire",
        "Completed On",
        "Completed Via",
        "Score",
        *(f"Q{i}" for i in range(1, 10)),
    ),
}
CAREPATH_BOOLEANS = {"attended": ("Attended", "DNA"), "checklist": ("Ticked", "Not ticked")}
CAREPATH_DATE_FORMAT = "%d/%m/%Y"


def carepath_client_ids(frames: dict[str, pd.DataFrame], n: int = 10) -> list[str]:
    """~n clients that between them show the interesting cases, chosen deterministically."""
    c, s, a, sc = frames["clients"], frames["sessions"], frames["assignments"], frames["scores"]
    sess = s.groupby("client_id").size()
    in_treatment = c.loc[c.discharge_date.isna(), "client_id"]
    after = sc.merge(c[["client_id", "discharge_date"]], on="client_id")
    followed_up = after.loc[after.administered_date > after.discharge_date, "client_id"]
    early = c.loc[c.discharge_date.notna() & c.client_id.map(sess).le(5), "client_id"]
    risk = sc.loc[sc.item_9.fillna(0) > 0, "client_id"]
    counted = a.loc[a.completed_practices.notna(), "client_id"]
    unreviewed = a.loc[a.reviewed_date.isna(), "client_id"]
    quoted = a.loc[a.description.str.contains('"', regex=False), "client_id"]
    multiline = a.loc[a.description.str.contains("\n", regex=False), "client_id"]
    picks: list[str] = []
    groups = [
        in_treatment[in_treatment.map(sess) >= 4],
        followed_up,
        early,
        risk,
        c.loc[c.program == "Group CBT", "client_id"],
        c.loc[c.primary_concern.isin(["panic", "social anxiety", "health anxiety"]), "client_id"],
        counted,
        unreviewed,
        quoted,
        multiline,
    ]
    for group in groups:
        for cid in sorted(set(group) - set(picks)):
            if sess.get(cid, 0) <= 14:  # keep the files small
                picks.append(cid)
                break
    for cid in c.client_id:
        if len(picks) >= n:
            break
        if cid not in picks:
            picks.append(cid)
    return sorted(picks[:n])


def carepath_example(n_clients: int = 600, seed: int = 7, as_of: date = AS_OF, n: int = 10) -> dict[str, pd.DataFrame]:
    """The generator's output for ~n clients, reshaped as a "CarePath EHR" export would be.

    Keys are the vendor file stems (Patients, Appointments, HomeworkTasks, Questionnaires);
    every value is text (None = empty): dates dd/mm/yyyy, vendor value spellings, vendor
    column names and order, plus one vendor-only column per file.
    """
    frames = generate_clinic(n_clients=n_clients, seed=seed, as_of=as_of)
    keep = carepath_client_ids(frames, n)
    rng = np.random.default_rng(seed + 1)
    out: dict[str, pd.DataFrame] = {}
    for table, stem in CAREPATH_FILES.items():
        frame = frames[table]
        frame = frame[frame.client_id.isin(keep)].reset_index(drop=True)
        text: dict[str, pd.Series] = {}
        for ours, theirs in CAREPATH_COLUMNS[table].items():
            col = frame[ours]
            if pd.api.types.is_datetime64_any_dtype(col.dtype):
                values = col.dt.strftime(CAREPATH_DATE_FORMAT)
            elif pd.api.types.is_bool_dtype(col.dtype):
                yes, no = CAREPATH_BOOLEANS["attended" if ours == "attended" else "checklist"]
                values = col.map({True: yes, False: no})
            elif pd.api.types.is_integer_dtype(col.dtype):
                values = col.astype("Int64").astype("str")
            else:
                values = col.map(CAREPATH_VALUES[ours]) if ours in CAREPATH_VALUES else col
            text[theirs] = pd.Series(values, dtype="object").where(col.notna(), None)
        extra, choices = CAREPATH_EXTRA[table]
        text[extra] = pd.Series(np.array(choices, dtype=object)[rng.integers(0, len(choices), len(frame))])
        out[stem] = pd.DataFrame(text)[list(CAREPATH_ORDER[table])]
    return out


def write_carepath_example(out_dir: Path, **kwargs) -> list[Path]:
    """Write the CarePath vendor-shaped example files (see :func:`carepath_example`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = carepath_example(**kwargs)
    return [write_csv(frame.astype("str"), out_dir / f"{stem}.csv") for stem, frame in frames.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_data.generator", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for clients.csv, sessions.csv, assignments.csv, scores.csv")
    parser.add_argument("--clients", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF, help="YYYY-MM-DD (default %(default)s)")
    parser.add_argument("--chunk-clients", type=int, metavar="N",
                        help="generate and append N clients at a time (bounded memory; default: all at once)")
    parser.add_argument(
        "--carepath",
        type=Path,
        metavar="DIR",
        help="also write the CarePath vendor-shaped example (sample_data/profiles/carepath_example uses the defaults)",
    )
    args = parser.parse_args(argv)
    if args.out is None and args.carepath is None:
        parser.error("give --out DIR (and/or --carepath DIR)")
    if args.out is not None:
        started = time.perf_counter()
        paths = write_export(args.out, n_clients=args.clients, seed=args.seed, as_of=args.as_of,
                             chunk_clients=args.chunk_clients)
        elapsed = time.perf_counter() - started
        for p in paths:
            print(f"{p}  ({p.stat().st_size:,} bytes)")
        print(f"{args.clients:,} clients generated and written in {elapsed:.2f} s", file=sys.stderr)
    if args.carepath is not None:
        for p in write_carepath_example(args.carepath, n_clients=args.clients, seed=args.seed, as_of=args.as_of):
            print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
