"""Run in a separate process by test_limits: take from a shared budget N times, print the tally."""

from __future__ import annotations

import sys

from tests.helpers import call, policy
from tether.gate import Allow, Gate

GRANTS = """
bot:
  may_act_for: [role:agent-users]
  tools:
    - id: refund
      tool: erp.refund
      approval: never
      limits:
        - {id: daily-count, per: agent, window: 24h, count: 25}
"""


def main(url: str, attempts: int, worker: str) -> None:
    allowed = 0
    with Gate(policy(GRANTS), database=url) as gate:
        for index in range(attempts):
            decision = gate.decide(
                call("erp.refund", {"invoice": 1, "amount": 1.0}, run_id=f"{worker}-{index}")
            )
            allowed += isinstance(decision, Allow)
    print(allowed)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
