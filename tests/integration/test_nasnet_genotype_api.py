"""A run's NASNet genotype through the API: a bad one is a 422 naming the block and the field; a good one
is stored in the run's spec, and NASNet-A keeps the spec it had before genotypes existed."""

import pytest

from worker.engine.genotype import NASNET_A


def nasnet(genotype=None) -> dict:
    model = {"arch": "nasnet", "cells": 1, "filters": 8}
    return {"dataset": {"name": "synthetic"}, "model": model if genotype is None else {**model, "genotype": genotype},
            "optim": {"epochs": 1}}


@pytest.mark.parametrize("platform", ["sqlite"], indirect=True)
def test_a_bad_genotype_is_a_422_naming_the_block_and_the_field(platform):
    genotype = NASNET_A.model_dump(mode="json")
    genotype["reduction"]["blocks"][3]["input_1"] = 6
    for path in ("/api/runs", "/api/specs/resolve"):
        r = platform.client.post(path, json={"spec": nasnet(genotype)})
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["field"] == "spec.model.genotype.reduction.blocks.3.input_1"
        assert "block 3 reads state 6, which does not exist yet" in detail["msg"]


@pytest.mark.parametrize("platform", ["sqlite"], indirect=True)
def test_a_genotype_is_stored_in_the_runs_spec_and_nasnet_a_is_left_out(platform):
    genotype = NASNET_A.model_dump(mode="json")
    genotype["normal"]["blocks"][0]["op_1"] = "dil_conv_3x3"
    custom = platform.client.post("/api/runs", json={"spec": nasnet(genotype)}).json()
    assert custom["spec"]["model"]["genotype"] == genotype
    plain = platform.client.post("/api/specs/resolve", json={"spec": nasnet()}).json()
    written = platform.client.post("/api/specs/resolve", json={"spec": nasnet(NASNET_A.model_dump())}).json()
    assert plain == written and "genotype" not in plain["spec"]["model"]
    catalog = platform.client.get("/api/catalog").json()
    [arch] = [a for a in catalog["archs"] if a["arch"] == "nasnet"]
    assert "genotype" not in [f["name"] for f in arch["fields"]]
