"""Runs the browser tests create through the API (when the UI flow under test is not the creating)."""

from __future__ import annotations

import copy

from tests.live import TINY_SPEC, LiveSystem


def tiny_spec(**sections) -> dict:
    """TINY_SPEC (a 3-epoch ShakeDrop PyramidNet-11 on 64 synthetic images) with sections merged in."""
    spec = copy.deepcopy(TINY_SPEC)
    for name, values in sections.items():
        spec[name] = {**spec.get(name, {}), **values} if isinstance(values, dict) else values
    return spec


def create_run(live: LiveSystem, spec: dict | None = None, **body) -> dict:
    response = live.post("/api/runs", json={"spec": spec or tiny_spec(), **body})
    assert response.status_code == 201, response.text
    return response.json()


def create_seeds(live: LiveSystem, name: str, spec: dict, seeds: list[int]) -> list[dict]:
    response = live.post("/api/experiments", json={"name": name, "spec": spec, "seeds": seeds})
    assert response.status_code == 201, response.text
    return response.json()["runs"]


def finished(live: LiveSystem, *runs: dict, timeout: float = 120) -> list[dict]:
    return [live.wait_for_status(r["id"], "succeeded", "failed", "cancelled", timeout=timeout) for r in runs]
