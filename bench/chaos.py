"""Faults done to a `treadle up` platform, with runs in flight: how long it takes to serve
again, and what became of the runs.

For each kind of process `treadle up` supervises (runs, ingest, sandbox, timers, scheduler,
API, Redis, PostgreSQL): `--trials` times, start `--runs` runs streaming slowly from the test
model, kill -9 the process, and time until it runs again and /ready answers; then follow
every run to its end. Then stop and start the platform at each `--gaps` gap and time until
the new instance is ready. Prints, per fault: trials, recovery seconds (min, median, max),
and the runs: completed, failed, stuck, duplicated; and the streams followed through each
kill by the SDK's event handler (all but the API's): how many, and how many broke or ended
with other text than the run stored.

    .venv/bin/python bench/chaos.py [--trials 3] [--runs 6] [--gaps 0,0.5,5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import chaos
from tests.support.model_server import ModelServer
from tests.support.platform import Up, bare_env, data_dir, remove


def report(outcomes: list[chaos.Outcome]) -> None:
    times = [o.recovered_seconds for o in outcomes]
    failed = [f for o in outcomes for f in o.failed]
    print(f"{outcomes[0].fault:<26}{len(outcomes):>7}{min(times):>8.1f}"
          f"{statistics.median(times):>8.1f}{max(times):>8.1f}"
          f"{sum(o.runs for o in outcomes):>7}{sum(o.completed for o in outcomes):>7}"
          f"{len(failed):>7}{sum(o.stuck for o in outcomes):>7}"
          f"{sum(o.duplicated for o in outcomes):>7}{sum(o.streams for o in outcomes):>8}"
          f"{sum(len(o.broken_streams) + len(o.stream_mismatch) for o in outcomes):>7}",
          flush=True)
    for line in failed + [f for o in outcomes for f in o.broken_streams + o.stream_mismatch]:
        print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--runs", type=int, default=6, help="runs in flight at each kill")
    parser.add_argument("--kinds", default=",".join(chaos.KINDS))
    parser.add_argument("--gaps", default="0,0.5,5", help="restart gaps in seconds")
    args = parser.parse_args()

    folder = data_dir()
    logs = Path(tempfile.mkdtemp(prefix="treadle-chaos-logs-"))
    with ModelServer() as model:
        env = bare_env(folder, model.url, TREADLE_RUN_LEASE_SECONDS="5")
        up = Up(env, logs / "up.log")
        try:
            key = up.key()
            api = chaos.client(up, key)
            assistant = api.beta.assistants.create(model="test-model", name="chaos").id
            print(f"{'fault':<26}{'trials':>7}{'min s':>8}{'med s':>8}{'max s':>8}"
                  f"{'runs':>7}{'done':>7}{'failed':>7}{'stuck':>7}{'dup':>7}{'streams':>8}{'bad':>7}")
            for kind in args.kinds.split(","):
                report([chaos.kill_trial(up, api, assistant, kind, runs=args.runs)
                        for _ in range(args.trials)])
            for gap in (float(g) for g in args.gaps.split(",")):
                outcomes = []
                for trial in range(args.trials):
                    up, outcome = chaos.restart_trial(up, gap, logs / f"up-{gap}-{trial}.log",
                                                      key, assistant)
                    outcomes.append(outcome)
                report(outcomes)
        finally:
            if up.process.poll() is None:
                up.stop()
            print(f"logs: {logs}")
            remove(folder)


if __name__ == "__main__":
    main()
