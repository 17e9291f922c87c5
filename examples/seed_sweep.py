"""Drive ShakeLab from a script: submit one spec with several seeds, wait, print each run's final error.

    python examples/seed_sweep.py --seeds 3                      # the built-in small demo spec
    python examples/seed_sweep.py --spec my_spec.json --seeds 5 --url http://gpu-box:8000 --api-key KEY

Only the standard library: copy it anywhere. See docs/api.md for the endpoints.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.error
import urllib.request

DEMO_SPEC = {  # ShakeDrop PyramidNet on scikit-learn's digits: a minute per run on a laptop CPU
    "dataset": {"name": "digits"},
    "model": {"arch": "pyramidnet", "depth": 20, "alpha": 24, "bottleneck": False},
    "regularization": {"method": "shakedrop"},
    "optim": {"epochs": 15, "batch_size": 64},
}


def call(url: str, method: str = "GET", body: dict | None = None, api_key: str | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {url}: {error.code} {error.read().decode()}") from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--spec", help="a run spec JSON file (default: a small ShakeDrop demo on digits)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--name", default="seed sweep")
    p.add_argument("--api-key")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the runs")
    args = p.parse_args()
    spec = json.load(open(args.spec)) if args.spec else DEMO_SPEC

    experiment = call(f"{args.url}/api/experiments", "POST", api_key=args.api_key,
                      body={"name": args.name, "spec": spec, "seeds": list(range(args.seeds))})
    print(f"experiment {experiment['id']}: runs {[r['id'] for r in experiment['runs']]} queued")

    deadline = time.monotonic() + args.timeout
    while True:
        runs = call(f"{args.url}/api/runs?experiment_id={experiment['id']}&limit=1000")["runs"]
        if all(r["status"] in ("succeeded", "failed", "cancelled") for r in runs):
            break
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the runs")
        done = sum(r["epochs_done"] for r in runs)
        print(f"  {done}/{sum(r['epochs'] for r in runs)} epochs", flush=True)
        time.sleep(5)

    finals = []
    for run in sorted(runs, key=lambda r: r["seed"]):
        curve = call(f"{args.url}/api/runs/{run['id']}/metrics")  # column-wise: ready to plot
        if run["status"] == "succeeded":
            errors = curve["test_error"]
            best = errors.index(min(errors))
            finals.append(errors[-1])
            print(f"seed {run['seed']}: final test error {errors[-1]:.2f}% "
                  f"(best {errors[best]:.2f}% at epoch {curve['epoch'][best]})")
        else:
            print(f"seed {run['seed']}: {run['status']}: {run['error']}")
    if len(finals) > 1:
        print(f"mean {statistics.mean(finals):.2f}% ± {statistics.stdev(finals):.2f} over {len(finals)} seeds")


if __name__ == "__main__":
    main()
