"""Bench: deploying a repo's views -- one Flink client run for all of them vs one run per view.

    .venv/bin/python bench/job_submission.py [--repo .] [--rounds 1]

Needs the repo's stack (``featurestream up``) with its views applied and enough free slots; every
job of the repo's namespace must be stopped first (the bench cancels what it starts, by job id).

Paths, in the same run and alternating:

* ``per-view`` (the baseline, the cost before issue 16): ``JobManager.submit`` of each view in turn,
  i.e. one ``flink run -pym featurestream.jobs.runner`` per view.
* ``one-client``: ``JobManager.submit_many`` of every view -- the path of
  ``featurestream jobs submit --all``: one ``flink run`` whose runner submits each view as its own job.

Both start from the topics' offsets (``fresh``). Reported: wall seconds per path and their ratio,
with the load average beside them (this machine is shared: absolute seconds move 2x between runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurestream.config import load_config
from featurestream.jobs.control import JobManager


def _cancel(jm: JobManager, job_ids: list[str]) -> None:
    for jid in job_ids:
        jm.flink.cancel(jid)
    for jid in job_ids:
        jm.flink.wait_for_state(jid, ("CANCELED",), timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=".", help="the feature repo (its views must be applied)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of both paths")
    args = parser.parse_args()
    jm = JobManager(load_config(args.repo))
    views = jm.registry.views(jm.config.namespace)
    if jm.running():
        print("stop the running jobs first (featurestream jobs cancel VIEW)", file=sys.stderr)
        return 1
    print(f"{len(views)} views: {', '.join(v.ref for v in views)}")
    times: dict[str, list[float]] = {"per-view": [], "one-client": []}
    for _ in range(args.rounds):
        for path in ("per-view", "one-client"):
            load = os.getloadavg()[0]
            t0 = time.monotonic()
            if path == "per-view":
                ids = [jm.submit(v, fresh=True)[0] for v in views]
            else:
                results = jm.submit_many(views, fresh=True)
                ids = [r.job_id for r in results if r.job_id]
                assert len(ids) == len(views), [r.error for r in results]
            seconds = time.monotonic() - t0
            times[path].append(seconds)
            print(f"{path:<11} {seconds:7.1f} s  ({seconds / len(views):.1f} s/view)  load {load:.1f}", flush=True)
            _cancel(jm, ids)
    base, ours = min(times["per-view"]), min(times["one-client"])
    print(f"best: per-view {base:.1f} s, one-client {ours:.1f} s: {base / ours:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
