"""A seeded work-queue workload: a random layered DAG of tasks (types, efforts, durations, dependencies) and
workers with skills, capacities and a hidden success probability per task type, with the figures a schedule is
judged by: the lower bound max(critical path, total work / total capacity), the oracle's and random placement's
expected success, and the makespan an oracle would reach. Pure data, no I/O: the simulated swarm
(``swarmsim``) runs it through the queue.

Task types: each needs its own skill, which a few workers have; among those, 1 or 2 are good at the type, the
others fail often, and the registered skill level says nothing of it (only outcomes do: what pheromone learns).
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from dataclasses import dataclass

MIN_LEVEL = 0.5  # every task requires its type's skill at this level


@dataclass(frozen=True)
class Scenario:
    """The workload's knobs. The defaults are calibrated so that the ``informed_greedy`` reference (perfect
    knowledge of the hidden probabilities, no overhead) just meets issue 16's goals (makespan ~1.25x the lower
    bound, success >= 0.9x the oracle): what a run misses beyond that is the product's learning and latency."""

    tasks: int = 1000
    layers: int = 35
    workers: int = 50
    types: int = 30
    eligible: int = 6  # workers with a type's skill, among them its 1-2 good ones
    good_p: tuple[float, float] = (0.9, 0.99)  # hidden success probability of a type's good workers
    bad_p: tuple[float, float] = (0.1, 0.5)  # and of its other eligible workers
    mean_deps: float = 2.0
    target_lb_s: float = 45.0  # durations scaled so the lower bound is this: the run takes ~1 minute
    max_attempts: int = 10  # a dead task cancels its descendants, most of a layered DAG: see the notes
    seed: int = 16

    @classmethod
    def quick(cls, seed: int) -> Scenario:
        return cls(tasks=250, layers=12, types=10, target_lb_s=9.0, seed=seed)


@dataclass(frozen=True)
class SimTask:
    id: str
    layer: int
    type: str
    effort: float
    duration: float
    deps: tuple[str, ...]


@dataclass(frozen=True)
class SimWorker:
    id: str
    capacity: float
    skills: dict[str, float]
    p: dict[str, float]  # hidden: success probability per task type it has the skill for


@dataclass
class World:
    sc: Scenario
    tasks: list[SimTask]
    workers: list[SimWorker]
    eligible: dict[str, list[str]]
    good: dict[str, list[str]]
    pin: dict[str, str]  # the random run: task -> a random eligible worker
    critical_path_s: float
    work_per_capacity_s: float

    @property
    def lower_bound_s(self) -> float:
        return max(self.critical_path_s, self.work_per_capacity_s)

    def oracle_p(self, ttype: str) -> float:
        """Every task to its best agent: the highest hidden probability for its type."""
        return max(self.worker(w).p[ttype] for w in self.eligible[ttype])

    def random_p(self, ttype: str) -> float:
        """A uniformly random eligible worker: the mean hidden probability for its type."""
        return statistics.fmean(self.worker(w).p[ttype] for w in self.eligible[ttype])

    def worker(self, wid: str) -> SimWorker:
        return self._workers[wid]

    def task(self, tid: str) -> SimTask:
        return self._tasks[tid.rsplit("/", 1)[-1]]  # a run's id is RUN/TASK

    def __post_init__(self) -> None:
        self._workers = {w.id: w for w in self.workers}
        self._tasks = {t.id: t for t in self.tasks}


def skill_of(ttype: str) -> str:
    return f"skill-{ttype}"


def pin_skill(wid: str) -> str:
    return f"pin-{wid}"


def bounds(tasks: list[SimTask], durations: dict[str, float], capacity: float) -> tuple[float, float]:
    """(critical path, total work / total capacity) of a DAG listed in topological order."""
    finish: dict[str, float] = {}
    for t in tasks:
        finish[t.id] = max((finish[d] for d in t.deps), default=0.0) + durations[t.id]
    work = sum(t.effort * durations[t.id] for t in tasks)
    return max(finish.values(), default=0.0), work / capacity


def build_world(sc: Scenario) -> World:
    rng = random.Random(sc.seed)
    types = [f"t{i:02d}" for i in range(sc.types)]
    wids = [f"w{i:02d}" for i in range(sc.workers)]
    caps = {w: float(rng.choice((2, 3))) for w in wids}
    # each type: 1 or 2 good workers (distinct specialists first), the rest of its eligible set fails often
    order = rng.sample(wids, len(wids))
    good: dict[str, list[str]] = {}
    eligible: dict[str, list[str]] = {}
    k = 0
    for t in types:
        good[t] = [order[(k + i) % len(order)] for i in range(rng.choice((1, 2)))]
        k += len(good[t])
        others = rng.sample([w for w in wids if w not in good[t]], sc.eligible - len(good[t]))
        eligible[t] = sorted(good[t] + others)
    p: dict[str, dict[str, float]] = defaultdict(dict)
    skills: dict[str, dict[str, float]] = defaultdict(dict)
    for t in types:
        for w in eligible[t]:
            p[w][t] = round(rng.uniform(*sc.good_p) if w in good[t] else rng.uniform(*sc.bad_p), 3)
            skills[w][skill_of(t)] = round(rng.uniform(0.55, 1.0), 2)  # the level says nothing of the outcome
    workers = [SimWorker(w, caps[w], {**skills[w], pin_skill(w): 1.0}, dict(p[w])) for w in wids]
    # types weighted by their good workers' capacity, so a learned placement has the room to use them
    weights = [sum(caps[w] for w in good[t]) for t in types]
    sizes = [rng.uniform(0.6, 1.4) for _ in range(sc.layers)]
    per_layer = [max(1, round(sc.tasks * s / sum(sizes))) for s in sizes]
    per_layer[-1] += sc.tasks - sum(per_layer)
    layer_ids: list[list[str]] = []
    raw: list[tuple[str, int, str, float, float, tuple[str, ...]]] = []
    with_deps = sc.tasks - per_layer[0]
    extra = max(0.0, sc.mean_deps * sc.tasks / max(with_deps, 1) - 1)  # deps beyond the first, per task
    n = 0
    for layer, size in enumerate(per_layer):
        ids = []
        for _ in range(size):
            tid = f"n{n:04d}"
            n += 1
            deps: set[str] = set()
            if layer:
                want = 1 + sum(rng.random() < extra / 4 for _ in range(4))
                deps.add(rng.choice(layer_ids[-1]))
                earlier = [i for ls in layer_ids for i in ls]
                while len(deps) < min(want, len(earlier)):
                    deps.add(rng.choice(layer_ids[-1] if rng.random() < 0.7 else earlier))
            ttype = rng.choices(types, weights)[0]
            raw.append(
                (tid, layer, ttype, 2.0 if rng.random() < 0.25 else 1.0, rng.uniform(0.4, 1.6), tuple(sorted(deps)))
            )
            ids.append(tid)
        layer_ids.append(ids)
    capacity = sum(caps.values())
    rel = [SimTask(*r) for r in raw]
    cp, wc = bounds(rel, {t.id: t.duration for t in rel}, capacity)
    scale = sc.target_lb_s / max(cp, wc)
    tasks = [SimTask(t.id, t.layer, t.type, t.effort, round(t.duration * scale, 3), t.deps) for t in rel]
    cp, wc = bounds(tasks, {t.id: t.duration for t in tasks}, capacity)
    pin = {t.id: rng.choice(eligible[t.type]) for t in tasks}
    return World(sc, tasks, workers, eligible, good, pin, cp, wc)


def oracle_makespan(world: World, draws: int = 200) -> list[float]:
    """Makespans over the lower bound of an oracle schedule (Monte Carlo): every attempt on the task type's best
    worker, a failed attempt retried at once and taking its whole duration, no overhead, capacity ignored.
    What failures alone cost the critical path, whatever the placement learns."""
    capacity = sum(w.capacity for w in world.workers)
    out = []
    for k in range(draws):
        rng = random.Random(f"{world.sc.seed}:oracle:{k}")
        durations = {}
        for t in world.tasks:
            p, tries = world.oracle_p(t.type), 1
            while rng.random() >= p and tries < world.sc.max_attempts:
                tries += 1
            durations[t.id] = t.duration * tries
        out.append(max(bounds(world.tasks, durations, capacity)) / world.lower_bound_s)
    return out
