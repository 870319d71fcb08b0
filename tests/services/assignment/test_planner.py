"""Planner properties: whatever agents and tasks come in, answers respect skills and capacity, are
repeatable with a seed, and never claim a negative gap."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.assignment import planner
from services.assignment.planner import AgentView, TaskSpec

SKILLS = ["python", "sql", "docs"]
level = st.floats(0, 1).map(lambda x: round(x, 2))

agents_st = st.lists(
    st.builds(
        lambda i, skills, cap, load, off: AgentView(f"a{i}", skills, cap, min(load, cap), off),
        st.integers(0, 10**6),
        st.dictionaries(st.sampled_from(SKILLS), level, max_size=3),
        st.sampled_from([1.0, 2.0, 3.0, 5.0]),
        st.sampled_from([0.0, 0.0, 1.0, 2.0]),
        st.booleans().map(lambda b: b and False),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda a: a.agent_id,
)
tasks_st = st.lists(
    st.builds(
        lambda i, typ, req, effort, prio: TaskSpec(f"t{i}", typ, tuple(req.items()), effort, prio),
        st.integers(0, 10**6),
        st.sampled_from(["code", "data"]),
        st.dictionaries(st.sampled_from(SKILLS), level, max_size=2),
        st.sampled_from([1.0, 1.0, 2.0, 3.0]),
        st.sampled_from([0.0, 1.0, 3.0]),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda t: t.task_id,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents=agents_st, tasks=tasks_st, strategy=st.sampled_from(planner.STRATEGIES), seed=st.integers(0, 100))
def test_answers_respect_skills_and_capacity(
    agents: list[AgentView], tasks: list[TaskSpec], strategy: str, seed: int
) -> None:
    strengths = {(a.agent_id, "code"): 2.0 for a in agents[:1]}
    p = planner.plan(tasks, agents, strengths, strategy=strategy, level="accurate", seed=seed)
    by_agent = {a.agent_id: a for a in agents}
    by_task = {t.task_id: t for t in tasks}
    used: dict[str, float] = {}
    for task_id, agent_id, cost in p.assignments:
        a, t = by_agent[agent_id], by_task[task_id]
        assert not a.offline
        assert all(a.skills.get(s, -1) >= lv for s, lv in t.required), (a, t)
        used[agent_id] = used.get(agent_id, 0.0) + t.effort
        assert cost > 0
    for agent_id, effort in used.items():
        a = by_agent[agent_id]
        assert effort <= a.capacity - a.load + 1e-9
    assert {t for t, _, _ in p.assignments}.isdisjoint({t for t, _ in p.unassigned})
    assert len(p.assignments) + len(p.unassigned) == len(tasks)
    assert p.gap >= 0 and p.lower_bound <= p.objective + 1e-6
    again = planner.plan(tasks, agents, strengths, strategy=strategy, level="accurate", seed=seed)
    assert again.assignments == p.assignments
