"""``python -m kinobill_operator``: ``kopf run`` over :mod:`kinobill_operator.main`.

Environment (the chart sets these):

* ``KINOBILL_OPERATOR_NAMESPACES``: comma-separated namespaces to watch; empty = all namespaces.
* ``KINOBILL_OPERATOR_PEERING``: the kopf peering (a ``KopfPeering`` object in each watched namespace; the
  chart ships the CRD, the object and the RBAC) through which replicas elect the one that works: each starts
  with a random priority, the others pause. Empty = standalone (a single replica only).
* ``KINOBILL_OPERATOR_PEER_LIFETIME_SECONDS``: after how long a silent replica is presumed dead (default 15).
* ``KINOBILL_OPERATOR_LIVENESS``: kopf's liveness endpoint, default ``http://0.0.0.0:8080/healthz``.
* ``KINOBILL_OPERATOR_TICK_SECONDS``: how often the timer looks at each schedule (default 10 s); a pass runs
  when ``spec.interval`` has passed since ``status.lastRunAt``.
Extra command-line arguments are passed on to ``kopf run`` (e.g. ``--verbose``).
"""

from __future__ import annotations

import os
import sys


def kopf_args(env: dict[str, str] | os._Environ[str], extra: list[str]) -> list[str]:
    args = ["run", "-m", "kinobill_operator.main", "--log-format", "json"]
    namespaces = [ns.strip() for ns in env.get("KINOBILL_OPERATOR_NAMESPACES", "").split(",") if ns.strip()]
    if namespaces:
        for ns in namespaces:
            args += ["--namespace", ns]
    else:
        args.append("--all-namespaces")
    peering = env.get("KINOBILL_OPERATOR_PEERING", "").strip()
    args += [f"--peering={peering}"] if peering else ["--standalone"]
    args += ["--liveness", env.get("KINOBILL_OPERATOR_LIVENESS", "http://0.0.0.0:8080/healthz")]
    return args + extra


def main(argv: list[str] | None = None) -> int:
    from kopf.cli import main as kopf_main

    kopf_main.main(args=kopf_args(os.environ, list(sys.argv[1:] if argv is None else argv)), prog_name="kopf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
