"""Plans: retention and copy policies turned into reviewable plan files, applied safely.

::

    policy = load_policy("policy.toml")                 # parse and check the TOML
    with open_inventory("snapshots/") as inv:
        plan = make_plan(inv, policy)                    # deterministic actions, reclaimable bytes
    write_plan(plan, "plan.json")                        # sealed with a checksum
    summary = apply_plan(load_plan("plan.json"), connection, yes=True)
"""

from __future__ import annotations

from reginventory.plan.planfile import (
    DEFAULT_MAX_AGE,
    LoadedPlan,
    check_age,
    checksum,
    load_plan,
    parse_duration,
    seal,
    write_plan,
)
from reginventory.plan.planner import make_plan
from reginventory.plan.policy import CopyRule, Policy, Protect, Rule, load_policy, parse_policy

__all__ = [
    "DEFAULT_MAX_AGE",
    "CopyRule",
    "LoadedPlan",
    "Policy",
    "Protect",
    "Rule",
    "check_age",
    "checksum",
    "load_plan",
    "load_policy",
    "make_plan",
    "parse_duration",
    "parse_policy",
    "seal",
    "write_plan",
]
