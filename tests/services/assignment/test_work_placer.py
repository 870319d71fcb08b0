"""What a placement round plans over: the highest-priority ready tasks an agent with room could take, and why
each of the others waits."""

from __future__ import annotations

from services.assignment.planner import AgentView, TaskSpec
from services.assignment.work_placer import MIN_ROUND_TASKS, ROUND_TASKS_PER_SLOT, trim


def test_tasks_no_agent_with_room_could_take_wait_with_their_reason() -> None:
    agents = [
        AgentView("py-busy", {"py": 0.9}, 1, 1, False),
        AgentView("go-free", {"go": 0.9}, 2, 0, False),
        AgentView("rust-off", {"rust": 0.9}, 1, 0, True),
    ]
    tasks = [
        TaskSpec("py", "t", (("py", 0.5),)),
        TaskSpec("go", "t", (("go", 0.5),)),
        TaskSpec("go-big", "t", (("go", 0.5),), effort=3),
        TaskSpec("rust", "t", (("rust", 0.5),)),
    ]
    chosen, waiting = trim(tasks, agents)
    assert [t.task_id for t in chosen] == ["go"]
    assert waiting["py"] == "waiting for room: none of the 1 agent(s) with the required skills has 1 free"
    assert "has 3 free" in waiting["go-big"]
    assert "rust" in waiting["rust"]  # nobody online has the skill: the planner's own reason


def test_a_long_queue_with_little_room_plans_a_few_tasks_per_free_slot() -> None:
    agents = [AgentView("a", {}, 1, 0, False)]
    tasks = [TaskSpec(f"t{i:04}", "t") for i in range(1000)]
    chosen, waiting = trim(tasks, agents)
    assert len(chosen) == max(MIN_ROUND_TASKS, ROUND_TASKS_PER_SLOT) and chosen[0].task_id == "t0000"
    assert waiting["t0999"] == "waiting: higher-priority tasks are placed first" and len(waiting) == 1000 - len(chosen)
