"""The complementary-suppression loop as it was before it was made incremental (session 10).

A verbatim copy of ``analytics.privacy._complementary_suppression`` and its helpers at commit
82893e5, kept as the reference the incremental loop must match cell for cell (same hidden cells,
same reasons, same withheld tables): ``tests/test_privacy_incremental.py`` and the timing script
``/work/notes/s10/suppress_timing.py`` swap it in with :func:`reference_suppress_table`. Not used
by the package.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from typing import Any

import numpy as np

import analytics.privacy as privacy
from analytics.privacy import (
    DEFAULT_POLICY,
    REASON_COMPLEMENTARY,
    REASON_SMALL_COUNT,
    REASON_TABLE_WITHHELD,
    SuppressedTable,
    SuppressionPolicy,
)

_Cell = tuple[int, Hashable]
_GROUND = ("ground",)


def reference_suppress_table(*args: Any, **kwargs: Any) -> SuppressedTable:
    """:func:`analytics.privacy.suppress_table` with the reference loop in place of the package's."""
    current = privacy._complementary_suppression
    privacy._complementary_suppression = _complementary_suppression
    try:
        return privacy.suppress_table(*args, **kwargs)
    finally:
        privacy._complementary_suppression = current


def _complementary_suppression(  # noqa: C901 - a verbatim copy, kept as it was
    hidden: dict[_Cell, str],
    values: dict[Hashable, list[int | None]],
    counts_all: list[Hashable],
    parts: list[Hashable],
    total_pos: int | None,
    total_col: Hashable | None,
    n_rows: int,
    policy: SuppressionPolicy = DEFAULT_POLICY,
) -> None:
    """Extend ``hidden`` in place until no suppressed cell can be worked out.

    Besides single cells, the *sum* of the suppressed cells of a line with a shown total is
    protected: total minus the shown cells gives it, so it must not be a small count either
    (issue 10, item 5: "All (49) - Not flagged (40) = 9" when both flagged groups read "<11").
    """
    col_order = {c: k for k, c in enumerate(counts_all)}

    def value(cell: _Cell) -> int:
        return values[cell[1]][cell[0]] or 0  # missing counts as 0, like in sums

    def sort_key(cell: _Cell) -> tuple[int, int, int]:
        return (value(cell), cell[0], col_order[cell[1]])

    # Each line: (member cells, total cell). Members add up to the total.
    lines: list[tuple[list[_Cell], _Cell]] = []
    if total_pos is not None:
        for col in counts_all:
            members = [(i, col) for i in range(n_rows) if i != total_pos]
            lines.append((members, (total_pos, col)))
    if total_col is not None:
        for i in range(n_rows):
            lines.append(([(i, p) for p in parts], (i, total_col)))

    part_set = {*parts, total_col}

    def nodes(cell: _Cell) -> tuple[Hashable, Hashable]:
        i, col = cell
        row_node = ("row", i) if total_col is not None and col in part_set else _GROUND
        col_node = ("col", col) if total_pos is not None else _GROUND
        return row_node, col_node

    all_cells = [(i, col) for col in counts_all for i in range(n_rows)]
    bounds_cache: dict = {}  # the interval audit's parts already solved (see _determined_by_bounds)

    def shown_nonzero() -> list[_Cell]:
        return [c for c in all_cells if c not in hidden and value(c) > 0]

    while True:
        # Rule 1: no row/column with a shown total has exactly one suppressed cell.
        changed = True
        while changed:
            changed = False
            for members, total in lines:
                if total in hidden or values[total[1]][total[0]] is None:
                    continue
                n_hidden = sum(1 for m in members if m in hidden)
                if n_hidden == 0:
                    continue
                if n_hidden > 1 and not policy.is_small(sum(value(m) for m in members if m in hidden)):
                    continue
                candidates = [m for m in members if m not in hidden and value(m) > 0]
                if candidates:
                    hidden[min(candidates, key=sort_key)] = REASON_COMPLEMENTARY
                    changed = True
                elif value(total) > 0:
                    hidden[total] = REASON_COMPLEMENTARY
                    changed = True

        # Rule 2 (audit): a suppressed cell that is a bridge of the graph "lines as
        # nodes, suppressed cells as edges" is determined by the equations; close the gap.
        cells = sorted(hidden, key=lambda c: (c[0], col_order[c[1]]))
        edges = [nodes(c) for c in cells]
        bridges = _bridges(edges)
        if not bridges:
            # Rule 3 (audit with bounds): small cells read "<11" (1 .. threshold - 1) and
            # complementary ones "suppressed" (threshold or more); a small cell those bounds
            # pin to one value gets another cell of its lines suppressed.
            pinned = _determined_by_bounds(hidden, values, lines, policy, bounds_cache)
            if not pinned:
                return
            cell = min(pinned, key=sort_key)
            related = {c for members, total in lines if cell in members or cell == total for c in (*members, total)}
            pool = shown_nonzero()
            choice = [c for c in pool if c in related] or pool
            if not choice:  # every non-zero count is hidden and the zeros still pin a small one
                _withhold_table(hidden, values, all_cells)
                return
            hidden[min(choice, key=sort_key)] = REASON_COMPLEMENTARY
            continue
        k = min(bridges)
        side_a = _component(edges, edges[k][0], skip=k)
        side_b = _component(edges, edges[k][1], skip=k)
        pool = shown_nonzero()
        crossing = [
            c
            for c in pool
            if (nodes(c)[0] in side_a and nodes(c)[1] in side_b) or (nodes(c)[0] in side_b and nodes(c)[1] in side_a)
        ]
        both_sides = side_a | side_b
        near = [c for c in pool if nodes(c)[0] in both_sides or nodes(c)[1] in both_sides]
        choice = crossing or near or pool
        if not choice:  # cannot happen (a determined cell implies a shown non-zero cell); be safe
            _withhold_table(hidden, values, all_cells)
            return
        hidden[min(choice, key=sort_key)] = REASON_COMPLEMENTARY


def _withhold_table(hidden: dict[_Cell, str], values: dict[Hashable, list[int | None]], cells: list[_Cell]) -> None:
    """Withhold every count of the table (missing counts stay missing): see :data:`REASON_TABLE_WITHHELD`."""
    for cell in cells:
        if values[cell[1]][cell[0]] is not None:
            hidden[cell] = REASON_TABLE_WITHHELD


def _determined_by_bounds(  # noqa: C901 - a verbatim copy, kept as it was
    hidden: dict[_Cell, str],
    values: dict[Hashable, list[int | None]],
    lines: list[tuple[list[_Cell], _Cell]],
    policy: SuppressionPolicy,
    cache: dict | None = None,
) -> list[_Cell]:
    """Small suppressed cells whose value the displayed table fixes (interval audit).

    A reader knows every shown count, the equations of the lines with a total, that a cell
    reading the marker holds ``lo .. threshold - 1`` (``lo`` = 0 under ``suppress_zero``,
    else 1) and that a cell reading :data:`WITHHELD_TEXT` holds ``threshold`` or more (zero
    is never chosen for complementary suppression). Each small cell's least and greatest
    value under those constraints is found by linear programming; the constraint matrix of
    one-level row and column totals is totally unimodular, so the bounds are whole numbers
    and attained. Returns the cells whose least and greatest values are equal."""
    cells = sorted(hidden, key=lambda c: (c[0], str(c[1])))
    lo = 0 if policy.suppress_zero else 1
    small = [c for c in cells if hidden[c] == REASON_SMALL_COUNT]
    if not small or lo == policy.threshold - 1:
        return []  # with a single small value (threshold 2) the marker itself says it
    index = {c: k for k, c in enumerate(cells)}

    def known(cell: _Cell) -> int:
        return values[cell[1]][cell[0]] or 0

    equations: list[tuple[dict[int, float], float]] = []
    for members, total in lines:
        if total not in index and values[total[1]][total[0]] is None:
            continue  # no total shown: no equation
        coefficients: dict[int, float] = defaultdict(float)
        rhs = 0.0
        for m in members:
            if m in index:
                coefficients[index[m]] += 1
            else:
                rhs -= known(m)
        if total in index:
            coefficients[index[total]] -= 1
        else:
            rhs += known(total)
        coefficients = {k: v for k, v in coefficients.items() if v}
        if coefficients:
            equations.append((coefficients, rhs))
    if not equations:
        return []
    bounds = [(lo, policy.threshold - 1) if hidden[c] == REASON_SMALL_COUNT else (policy.threshold, None) for c in cells]
    # The programme separates into independent parts (suppressed cells linked by shared
    # equations): a cell's least and greatest values depend on its part alone. Each part is
    # solved once per call; ``cache`` keeps the parts' results between the calls of one
    # suppression, which add one cell at a time and leave most parts unchanged.
    parent = list(range(len(cells)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for coefficients, _ in equations:
        first, *rest = coefficients
        for k in rest:
            parent[root(k)] = root(first)
    parts: dict[int, list[int]] = defaultdict(list)
    for k in range(len(cells)):
        parts[root(k)].append(k)
    part_equations: dict[int, list[tuple[dict[int, float], float]]] = defaultdict(list)
    for coefficients, rhs in equations:
        part_equations[root(next(iter(coefficients)))].append((coefficients, rhs))
    # Hiding a further cell only widens what a reader can imagine (the cell's shown value stays
    # a possible one: it lies within its new bounds), so a small cell once found not pinned stays
    # so for the rest of one suppression: ``cache`` carries those cells between its calls.
    cache = {} if cache is None else cache
    previous: dict[_Cell, str] | None = cache.get("hidden")

    def within_bounds(cell: _Cell) -> bool:
        low, high = (lo, policy.threshold - 1) if hidden[cell] == REASON_SMALL_COUNT else (policy.threshold, None)
        return known(cell) >= low and (high is None or known(cell) <= high)

    carried: set[_Cell] = set()
    if previous is not None and all(hidden.get(c) == r for c, r in previous.items()) and all(
        within_bounds(c) for c in hidden if c not in previous
    ):
        carried = cache.get("not_pinned", set())
    not_pinned = set(carried)
    pinned = []
    actual = [known(c) for c in cells]
    for part_root, members in parts.items():
        wanted = [k for k in members if hidden[cells[k]] == REASON_SMALL_COUNT and cells[k] not in carried]
        eqs = part_equations.get(part_root, [])
        if not wanted or not eqs:
            continue  # no small cell left to check, or in no equation: only its bounds are known
        # One-level totals make the part a network (each cell in at most two equations): whether a
        # cell can move is then a question of cycles in a graph, answered without programmes.
        free = _network_free(eqs, members, wanted, bounds, actual)
        if free is not None:
            for k in wanted:
                (not_pinned.add if free[k] else pinned.append)(cells[k])
            continue
        from scipy.optimize import linprog  # only for a part that is not a network (scipy is slow to import)

        position = {k: j for j, k in enumerate(members)}
        a_matrix = np.zeros((len(eqs), len(members)))
        for row, (coefficients, _) in enumerate(eqs):
            for k, v in coefficients.items():
                a_matrix[row, position[k]] = v
        b_vector = np.array([rhs for _, rhs in eqs])
        part_bounds = [bounds[k] for k in members]
        # Every solution found is a table the reader cannot rule out: a cell seen with two
        # values at least 0.5 apart in them is not pinned, and needs no programme of its own.
        seen_low = np.full(len(members), np.inf)
        seen_high = np.full(len(members), -np.inf)
        # First a few programmes that push the unresolved cells in random directions (seeded:
        # the same table always gives the same programmes): they usually show most cells free,
        # and only the rest get programmes of their own. Which cells are pinned is decided by
        # those alone, so this changes the work, never the result.
        directions = np.random.default_rng(len(members))
        stalled = 0
        while stalled < 2:
            open_cells = [position[k] for k in wanted if seen_high[position[k]] - seen_low[position[k]] < 0.5]
            if len(open_cells) < 2:
                break
            cost = np.zeros(len(members))
            cost[open_cells] = directions.choice([-1.0, 1.0], size=len(open_cells))
            found = linprog(cost, A_eq=a_matrix, b_eq=b_vector, bounds=part_bounds, method="highs")
            if found.status != 0:
                break
            seen_low, seen_high = np.minimum(seen_low, found.x), np.maximum(seen_high, found.x)
            still_open = sum(1 for j in open_cells if seen_high[j] - seen_low[j] < 0.5)
            stalled = stalled + 1 if still_open > len(open_cells) * 0.9 else 0
        for k in wanted:
            j = position[k]
            if seen_high[j] - seen_low[j] >= 0.5:
                not_pinned.add(cells[k])
                continue
            cost = np.zeros(len(members))
            cost[j] = 1.0
            low = linprog(cost, A_eq=a_matrix, b_eq=b_vector, bounds=part_bounds, method="highs")
            if low.status == 0:
                seen_low, seen_high = np.minimum(seen_low, low.x), np.maximum(seen_high, low.x)
                if seen_high[j] - seen_low[j] >= 0.5:
                    not_pinned.add(cells[k])
                    continue
            high = linprog(-cost, A_eq=a_matrix, b_eq=b_vector, bounds=part_bounds, method="highs")
            if low.status != 0 or high.status != 0:
                continue  # unbounded (cannot happen for a small cell) or numerically infeasible
            seen_low, seen_high = np.minimum(seen_low, high.x), np.maximum(seen_high, high.x)
            if -high.fun - low.fun < 0.5:
                pinned.append(cells[k])
            else:
                not_pinned.add(cells[k])
    cache["hidden"], cache["not_pinned"] = dict(hidden), not_pinned
    return sorted(pinned, key=lambda c: (c[0], str(c[1])))


def _network_free(  # noqa: C901 - a verbatim copy, kept as it was
    equations: list[tuple[dict[int, float], float]],
    members: list[int],
    wanted: list[int],
    bounds: list[tuple[int, int | None]],
    actual: list[int],
) -> dict[int, bool] | None:
    """The interval audit of one part without linear programmes, when the part is a network.

    With one level of totals every suppressed cell is in at most two equations (its row's and its
    column's), and the equations can be signed so that each cell enters one with +1 and the other
    with -1 (the matrix is a network matrix; a cell in one equation only runs to a "ground" node
    without an equation). The part's solutions are then the flows of a graph with the cells as arcs
    between their equations, each arc within its bounds; the table's actual counts are one of them.
    A cell's value can change, keeping every total and every bound, exactly when its arc lies on a
    cycle of the residual graph of that flow (an arc ``u -> v`` where the cell may grow, ``v -> u``
    where it may shrink) other than the arc against itself: cycles are exactly the differences of
    two solutions, so this gives the same answer as the two programmes (least and greatest value)
    of the definition, for every cell, in time linear in the part for most cells.

    Returns ``{cell index: True when it can take another value}`` for ``wanted``, or ``None``
    when the part is not a network or the actual counts are not a solution of it (a given total
    that is not the sum of its cells): the caller then solves the programmes."""
    occurs: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for e, (coefficients, _) in enumerate(equations):
        for k, v in coefficients.items():
            if v not in (1.0, -1.0):
                return None
            occurs[k].append((e, v))
    for k in members:
        low, high = bounds[k]
        if actual[k] < low or (high is not None and actual[k] > high) or len(occurs[k]) > 2:
            return None
    for coefficients, rhs in equations:
        if sum(v * actual[k] for k, v in coefficients.items()) != rhs:
            return None
    # Sign the equations (two colours): a cell in two equations enters them with opposite signs.
    sign = [0] * len(equations)
    for start in range(len(equations)):
        if sign[start]:
            continue
        sign[start] = 1
        todo = [start]
        while todo:
            e = todo.pop()
            for k in equations[e][0]:
                occ = occurs[k]
                if len(occ) < 2:
                    continue
                (a, ca), (b, cb) = occ
                other, need = (b, -sign[a] * ca * cb) if a == e else (a, -sign[b] * cb * ca)
                if sign[other] == 0:
                    sign[other] = int(need)
                    todo.append(other)
                elif sign[other] != need:
                    return None
    ground = len(equations)
    ends: dict[int, tuple[int, int]] = {}  # cell -> (tail, head)
    arcs: list[list[tuple[int, int]]] = [[] for _ in range(ground + 1)]  # node -> [(next node, cell)]
    for k in members:
        tail = head = ground
        for e, c in occurs[k]:
            if sign[e] * c > 0:
                head = e
            else:
                tail = e
        ends[k] = (tail, head)
        low, high = bounds[k]
        if high is None or actual[k] < high:
            arcs[tail].append((head, k))  # the cell can grow
        if actual[k] > low:
            arcs[head].append((tail, k))  # the cell can shrink
    component = _strong_components(arcs, frozenset())
    # Cells that can both grow and shrink always close a cycle with themselves; for them, first
    # the components of the graph without any such wanted cell (a cycle there avoids the cell).
    inner = [k for k in wanted if (bounds[k][1] is None or actual[k] < bounds[k][1]) and actual[k] > bounds[k][0]]
    without = _strong_components(arcs, frozenset(inner)) if inner else component
    inner_set = set(inner)
    free: dict[int, bool] = {}
    for k in wanted:
        tail, head = ends[k]
        if component[tail] != component[head]:
            free[k] = False
        elif k not in inner_set or without[tail] == without[head]:
            free[k] = True
        else:
            free[k] = _reaches(arcs, head, tail, k, component) or _reaches(arcs, tail, head, k, component)
    return free


def _strong_components(arcs: list[list[tuple[int, int]]], skip: frozenset[int]) -> list[int]:
    """Strongly connected component of each node (iterative Tarjan), ignoring the arcs of the cells in ``skip``."""
    n = len(arcs)
    index = [-1] * n
    low = [0] * n
    component = [-1] * n
    on_stack = [False] * n
    stack: list[int] = []
    clock = 0
    count = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = clock
        clock += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, iter(arcs[root]))]
        while work:
            node, successors = work[-1]
            for nxt, cell in successors:
                if cell in skip:
                    continue
                if index[nxt] < 0:
                    index[nxt] = low[nxt] = clock
                    clock += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, iter(arcs[nxt])))
                    break
                if on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component[member] = count
                        if member == node:
                            break
                    count += 1
    return component


def _reaches(arcs: list[list[tuple[int, int]]], start: int, goal: int, skip: int, component: list[int]) -> bool:
    """Whether ``goal`` can be reached from ``start`` without the arcs of cell ``skip`` (within
    ``start``'s strongly connected component: a path that closes a cycle stays inside it)."""
    where = component[start]
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt, cell in arcs[node]:
            if cell == skip or nxt in seen or component[nxt] != where:
                continue
            if nxt == goal:
                return True
            seen.add(nxt)
            todo.append(nxt)
    return False


def _bridges(edges: list[tuple[Hashable, Hashable]]) -> set[int]:
    """Indices of bridge edges in a multigraph (iterative Tarjan).

    Nodes are the table's equations (one per row/column that has a total) plus
    ``_GROUND`` for "no equation"; each suppressed cell is an edge between the two
    equations it appears in. A suppressed cell's value follows from the equations exactly
    when its edge is a bridge: summing the equations on one side of it (with signs) cancels
    every other unknown. A cell on a cycle can be shifted by +1/-1 around the cycle, which
    keeps every total and every cell non-negative (suppressed cells are >= 1).
    """
    adjacency: dict[Hashable, list[tuple[Hashable, int]]] = defaultdict(list)
    for k, (u, v) in enumerate(edges):
        if u == v:
            continue
        adjacency[u].append((v, k))
        adjacency[v].append((u, k))
    discovered: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    found: set[int] = set()
    clock = 0
    for root in list(adjacency):
        if root in discovered:
            continue
        discovered[root] = low[root] = clock
        clock += 1
        stack = [(root, -1, iter(adjacency[root]))]
        while stack:
            node, via, neighbours = stack[-1]
            for nxt, k in neighbours:
                if k == via:
                    continue
                if nxt in discovered:
                    low[node] = min(low[node], discovered[nxt])
                else:
                    discovered[nxt] = low[nxt] = clock
                    clock += 1
                    stack.append((nxt, k, iter(adjacency[nxt])))
                    break
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > discovered[parent]:
                        found.add(via)
    return found


def _component(edges: list[tuple[Hashable, Hashable]], start: Hashable, skip: int) -> set[Hashable]:
    """Nodes reachable from ``start`` without using edge ``skip``."""
    adjacency: dict[Hashable, list[Hashable]] = defaultdict(list)
    for k, (u, v) in enumerate(edges):
        if k != skip:
            adjacency[u].append(v)
            adjacency[v].append(u)
    seen = {start}
    todo = [start]
    while todo:
        for nxt in adjacency[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
