"""Drive ShakeLab from a script: submit one spec with several seeds, wait, print each run's final error.

    python examples/seed_sweep.py --seeds 3                      # the built-in small demo spec
    python examples/seed_sweep.py --spec my_spec.json --seeds 5 --url http://gpu-box:8000 --api-key KEY

It uses ShakeLab's Python client (`pip install` this repository, or run it from a checkout); see
docs/client.md. The same from the shell: `shakelab submit my_spec.json --seeds 5 --wait`.
"""

from __future__ import annotations

import argparse
import json
import sys

from shakelab.client import Client, ShakeLabError

DEMO_SPEC = {  # ShakeDrop PyramidNet on scikit-learn's digits: a minute per run on a laptop CPU
    "dataset": {"name": "digits"},
    "model": {"arch": "pyramidnet", "depth": 20, "alpha": 24, "bottleneck": False},
    "regularization": {"method": "shakedrop"},
    "optim": {"epochs": 15, "batch_size": 64},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="default $SHAKELAB_URL, else http://127.0.0.1:8000")
    p.add_argument("--spec", help="a run spec JSON file (default: a small ShakeDrop demo on digits)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--name", default="seed sweep")
    p.add_argument("--api-key", help="default $SHAKELAB_API_KEY")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the runs")
    args = p.parse_args()
    spec = json.load(open(args.spec)) if args.spec else DEMO_SPEC

    with Client(args.url, args.api_key) as lab:
        experiment = lab.submit_experiment(spec, name=args.name, seeds=range(args.seeds))
        print(f"experiment {experiment.id}: runs {[r.id for r in experiment.runs]} queued")
        runs = [lab.wait(r.id, timeout=args.timeout, progress=False) for r in experiment.runs]

        for run in sorted(runs, key=lambda r: r.seed):
            if run.status != "succeeded":
                print(f"seed {run.seed}: {run.status}: {run.error}")
                continue
            curve = lab.metrics(run.id)  # column-wise: ready to plot
            best = curve.test_error.index(min(curve.test_error))
            print(f"seed {run.seed}: final test error {curve.test_error[-1]:.2f}% "
                  f"(best {curve.test_error[best]:.2f}% at epoch {curve.epoch[best]}, chosen on the test set)")
        # The seed group's statistics as the server counts them: finished runs, each seed once.
        stats = lab.seeds(runs[0].id).last_test_error
        if stats is not None and stats.n > 1:
            low, high = stats.ci95
            print(f"mean {stats.mean:.2f}% ± {stats.std:.2f} (95% interval {low:.2f}-{high:.2f}) over {stats.n} seeds")


if __name__ == "__main__":
    try:
        main()
    except (ShakeLabError, TimeoutError) as error:
        sys.exit(f"seed_sweep: {error}")
