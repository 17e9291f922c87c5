"""The papers' tables in backend/tables against an independent transcription of them (paper_tables.yaml, beside
this file): every reported number, its verification level and each table's training settings; every cell's
spec validates under every profile; the profiles change what they say and nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backend.catalog import presets
from backend.tables.cost import FORWARD_GFLOPS, model_key
from backend.tables.data import PAPER_TABLES, VERIFICATION_LEVELS, PaperTable
from backend.tables.profiles import BUDGET_FRACTION, PROFILES, profile_spec, table_specs
from backend.tables.rounding import fixed
from worker.engine.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTION = Path(__file__).with_name("paper_tables.yaml")


@pytest.fixture(scope="module")
def papers() -> dict:
    return {t["id"]: t for t in yaml.safe_load(TRANSCRIPTION.read_text())["tables"]}


def resolved(table: PaperTable, key: str) -> dict:
    cell = next(c for k, _, c in table.cells() if k == key)
    return parse_spec(cell.spec).model_dump(mode="json")


def cells_by_row(table: PaperTable) -> dict[str, dict]:
    return {row.key: {c.column: c for c in row.cells} for row in table.rows}


def check_training(spec: dict, *, epochs, batch_size, lr, weight_decay, gpus, momentum=0.9, nesterov=True,
                   schedule="cosine", milestones=(), gamma=None):
    optim = spec["optim"]
    assert (optim["epochs"], optim["batch_size"], optim["lr"], optim["weight_decay"]) == \
        (epochs, batch_size, lr, weight_decay)
    # each of the paper's GPUs normalised its own slice of the batch: replica groups of batch / gpus images
    assert optim["replica_batch"] * gpus == batch_size
    assert (optim["momentum"], optim["nesterov"]) == (momentum, nesterov)
    assert spec["schedule"]["kind"] == schedule and spec["schedule"]["warmup_epochs"] == 0
    assert spec["schedule"]["milestones"] == list(milestones)
    if gamma is not None:
        assert spec["schedule"]["gamma"] == gamma


def check_optimizer(spec: dict, config: dict):
    """A table's `config` in the transcription: epochs, optimizer, lr (initial, schedule), batch size."""
    lr = config["lr"]
    milestones = [m / config["epochs"] for m in lr.get("milestones", [])]
    check_training(spec, epochs=config["epochs"], batch_size=config["batch_size"], lr=lr["initial"],
                   weight_decay=config["optimizer"]["weight_decay"], gpus=config["gpus"],
                   momentum=config["optimizer"]["momentum"],
                   nesterov=config["optimizer"]["nesterov"],
                   schedule="multistep" if lr["schedule"] == "multistep" else "cosine", milestones=milestones,
                   gamma=lr.get("gamma"))


CROP_FLIP = {"crop_padding": 4, "flip": True, "cutout": 0, "random_erasing": 0.0}


# ------------------------------------------------------------------------------------------- the tables

def test_the_tables_are_the_papers_tables_issue_5_and_7_name():
    assert list(PAPER_TABLES) == [
        "shake_shake_table1_cifar10", "shake_shake_table2_cifar100", "shakedrop_alpha_beta_sweep_cifar100",
        "shakedrop_level_comparison_cifar100", "shakedrop_regularization_comparison", "shakedrop_final_results",
        "nasnet_a_cifar10"]


def test_shake_shake_table1_has_every_reported_number_and_no_other(papers):
    paper = papers["shake_shake_table1_cifar10"]
    table = PAPER_TABLES["shake_shake_table1_cifar10"]
    assert table.source.startswith("Gastaldi 2017, arXiv:1705.07485, Table 1")
    widths = [int(re.fullmatch(r"26 2x(\d+)d", c).group(1)) for c in paper["columns"]]
    assert [c.label for c in table.columns] == paper["columns"]
    rows = cells_by_row(table)
    assert len(rows) == len(paper["rows"])
    for paper_row, row in zip(paper["rows"], table.rows, strict=True):
        forward, backward, level = (paper_row[k].lower() for k in ("forward", "backward", "level"))
        assert row.label == f"{paper_row['forward']}-{paper_row['backward']}-{paper_row['level']}"
        for width, column, value in zip(widths, table.columns, paper_row["values"], strict=True):
            cell = rows[row.key].get(column.key)
            if value is None:
                assert cell is None, f"{row.key}:{column.key} is '–' in the paper"
                continue
            assert (cell.reported, cell.verification) == (value, paper["verification"])
            spec = resolved(table, f"{row.key}:{column.key}")
            assert spec["dataset"]["name"] == paper["dataset"]
            assert spec["model"] == {"arch": "shake_resnet", "depth": 26, "width": width}
            if (forward, backward) == ("even", "even"):
                assert spec["regularization"] == {"method": "none"}
            else:
                assert spec["regularization"] == {"method": "shake_shake", "forward": forward,
                                                  "backward": backward, "level": level}
            check_optimizer(spec, paper["config"])
            assert paper["config"]["augmentation"] == ["random_crop_pad4_zero", "horizontal_flip"]
            assert spec["augment"] == CROP_FLIP


def test_shake_shake_table1_notes_the_autoaugment_number_and_the_96d_spread(papers):
    table = PAPER_TABLES["shake_shake_table1_cifar10"]
    rows = cells_by_row(table)
    assert "AutoAugment" in rows["s-s-i"]["2x112d"].source
    assert "median 2.87, min 2.72, max 2.95" in rows["s-s-i"]["2x96d"].note
    assert any("AutoAugment" in n for n in table.notes)


def test_shake_shake_table2_cifar100(papers):
    paper = papers["shake_shake_table2_cifar100"]
    table = PAPER_TABLES["shake_shake_table2_cifar100"]
    assert [c.label for c in table.columns] == paper["columns"]
    for paper_row, row in zip(paper["rows"], table.rows, strict=True):
        [cell] = row.cells
        assert (cell.reported, cell.verification) == (paper_row["values"][0], paper_row["verification"])
        if "stats" in paper_row:
            s = paper_row["stats"]
            assert f"median {s['median']}, min {s['min']}, max {s['max']}" in cell.note
        spec = resolved(table, f"{row.key}:{cell.column}")
        assert spec["dataset"]["name"] == "cifar100"
        assert spec["model"] == {"arch": "shake_resnext", "depth": 29, "cardinality": 4, "base_width": 64}
        forward, backward, level = (paper_row[k].lower() for k in ("forward", "backward", "level"))
        expected = {"method": "none"} if (forward, backward) == ("even", "even") else \
            {"method": "shake_shake", "forward": forward, "backward": backward, "level": level}
        assert spec["regularization"] == expected
        check_optimizer(spec, paper["config"])
        assert spec["augment"] == CROP_FLIP


PYRAMIDNET_110_A270 = {"arch": "pyramidnet", "depth": 110, "alpha": 270, "bottleneck": False}


def check_shakedrop_setting(spec: dict, config: dict):
    assert config["arch"].startswith("PyramidNet-110 alpha=270 (basic)")
    assert spec["dataset"]["name"] == "cifar100"
    assert spec["model"] == PYRAMIDNET_110_A270
    check_optimizer(spec, config)
    assert spec["augment"] == CROP_FLIP


def expected_shakedrop(alpha, beta, level: str) -> dict:
    """The paper's level is that of alpha and beta; the authors' code draws the gate per batch."""
    return {"method": "shakedrop", "p_last": 0.5, "alpha_range": alpha, "beta_range": beta, "level": level,
            "gate_level": None if level == "batch" else "batch"}


def test_shakedrop_alpha_beta_sweep(papers):
    paper = papers["shakedrop_alpha_beta_sweep_cifar100"]
    table = PAPER_TABLES["shakedrop_alpha_beta_sweep_cifar100"]
    assert paper["config"]["p_L"] == 0.5
    assert paper["config"]["config_verification"] in table.config["verification"]
    for paper_row, row in zip(paper["rows"], table.rows, strict=True):
        [cell] = row.cells
        assert (cell.reported, cell.verification) == (paper_row["error"], paper_row["verification"])
        spec = resolved(table, f"{row.key}:{cell.column}")
        check_shakedrop_setting(spec, paper["config"])
        alpha, beta = paper_row["alpha"], paper_row["beta"]
        if (alpha, beta) == (1, 1):  # b + alpha - b*alpha = 1: the plain net
            assert spec["regularization"] == {"method": "none"}
        elif (alpha, beta) == (0, 0):  # = b: ResDrop, one gate per mini-batch
            assert spec["regularization"] == expected_shakedrop([0.0, 0.0], [0.0, 0.0], "batch")
        else:
            assert spec["regularization"] == expected_shakedrop(alpha, beta, paper_row["level"].lower())


def test_shakedrop_level_comparison_keeps_the_unretrieved_levels_without_a_number(papers):
    paper = papers["shakedrop_level_comparison_cifar100"]
    config = papers[paper["config_ref"]]["config"]
    table = PAPER_TABLES["shakedrop_level_comparison_cifar100"]
    for paper_row, row in zip(paper["rows"], table.rows, strict=True):
        [cell] = row.cells
        assert row.label == paper_row["level"]
        assert (cell.reported, cell.verification) == (paper_row["error"], paper_row["verification"])
        spec = resolved(table, f"{row.key}:{cell.column}")
        check_shakedrop_setting(spec, config)
        assert spec["regularization"] == expected_shakedrop([-1.0, 1.0], [0.0, 1.0], paper_row["level"].lower())


def test_shakedrop_regularization_comparison(papers):
    paper = papers["shakedrop_regularization_comparison"]
    config = papers["shakedrop_alpha_beta_sweep_cifar100"]["config"]
    table = PAPER_TABLES["shakedrop_regularization_comparison"]
    models = {"ResNet-110": {"arch": "resnet", "depth": 110, "bottleneck": False},
              "PyramidNet-110 a=270": PYRAMIDNET_110_A270}
    regularizations = {"vanilla": {"method": "none"},
                       "resdrop": expected_shakedrop([0.0, 0.0], [0.0, 0.0], "batch"),
                       "shakedrop": expected_shakedrop([-1.0, 1.0], [0.0, 1.0], "pixel")}
    # 1-branch Shake: no number retrieved, and the spec cannot express it: no column.
    assert all(r["one_branch_shake"] is None for r in paper["rows"])
    assert [c.key for c in table.columns] == list(regularizations)
    for paper_row, row in zip(paper["rows"], table.rows, strict=True):
        cells = {c.column: c for c in row.cells}
        for column, regularization in regularizations.items():
            cell = cells[column]
            assert cell.reported == paper_row[column]
            # "UNVERIFIED except 15.78 (V-code)"
            verified = re.search(rf"except {cell.reported} \((V-\w+)\)", paper_row["verification"])
            assert cell.verification == (verified.group(1) if verified else "UNVERIFIED")
            spec = resolved(table, f"{row.key}:{column}")
            assert spec["dataset"]["name"] == paper_row["dataset"]
            assert spec["model"] == models[paper_row["arch"]]
            assert spec["regularization"] == regularization
            check_optimizer(spec, config)


def test_shakedrop_final_results(papers):
    paper = papers["shakedrop_final_results"]
    table = PAPER_TABLES["shakedrop_final_results"]
    [row] = table.rows
    cells = {c.column: c for c in row.cells}
    for paper_row in paper["rows"]:
        cell = cells[paper_row["dataset"]]
        assert (cell.reported, cell.verification) == (paper_row["error"], paper_row["verification"])
        spec = resolved(table, f"{row.key}:{cell.column}")
        assert spec["dataset"]["name"] == paper_row["dataset"]
        assert paper["config"]["arch"].startswith("PyramidNet-272 alpha=200 bottleneck")
        assert spec["model"] == {"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True}
        assert spec["regularization"]["method"] == "shakedrop"
        assert paper["config"]["epochs"] == 1800 and paper["config"]["lr_schedule"] == "cosine"
        check_training(spec, epochs=1800, batch_size=128, lr=0.1, weight_decay=1e-4, gpus=paper["config"]["gpus"])
        assert "random erasing" in paper["config"]["augmentation"]
        assert spec["augment"] == {**CROP_FLIP, "random_erasing": 0.5}
    assert "UNVERIFIED" in table.config["verification"]


def test_nasnet_rows(papers):
    paper = papers["nasnet_a_cifar10"]
    config = paper["config"]
    table = PAPER_TABLES["nasnet_a_cifar10"]
    assert len(paper["rows"]) == 3
    for paper_row, row in zip(paper["rows"], table.rows, strict=True):
        [cell] = row.cells
        assert (cell.reported, cell.verification) == (paper_row["error"], paper["verification"])
        assert f"{paper_row['params_M']}M" in row.label
        spec = resolved(table, f"{row.key}:{cell.column}")
        assert spec["dataset"]["name"] == "cifar10"
        assert spec["model"] == {"arch": "nasnet", "cells": paper_row["cells"], "filters": paper_row["filters"],
                                 "aux_weight": config["aux_weight"]}
        assert spec["regularization"] == {"method": "scheduled_drop_path",
                                          "p_max": pytest.approx(1 - config["drop_path_keep_prob"])}
        # TF-slim's CIFAR configuration: batch 32, lr 0.025 cosine, global gradient norm clipped at 5
        check_training(spec, epochs=config["epochs"], batch_size=config["batch_size"], lr=config["lr"],
                       weight_decay=5e-4, gpus=config["gpus"])
        assert spec["optim"]["grad_clip"] == config["grad_clip"]
        assert spec["augment"] == {**CROP_FLIP, "cutout": 16 if paper_row["cutout"] else 0}


# ----------------------------------------------------------------------------------- cells and profiles

ALL_CELLS = [(table.id, key) for table in PAPER_TABLES.values() for key in table.cell_keys]


def test_every_cell_has_a_known_verification_a_source_and_a_unique_key():
    for table in PAPER_TABLES.values():
        assert len(set(table.cell_keys)) == len(table.cell_keys)
        for _, row, cell in table.cells():
            assert cell.verification in VERIFICATION_LEVELS
            assert (cell.reported is None) == (cell.verification == "missing")
            assert cell.column in {c.key for c in table.columns}
            assert table.cell_source(row, cell)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_cell_spec_validates_under_every_profile(profile):
    for table in PAPER_TABLES.values():
        specs = table_specs(table.id, profile)
        assert [c.key for c in specs] == table.cell_keys
        for cell in specs:
            assert parse_spec(cell.spec.model_dump(mode="json")) == cell.spec


@pytest.mark.parametrize("profile", ["full", "budget"])
def test_no_two_cells_of_a_table_share_a_spec(profile):
    for table in PAPER_TABLES.values():
        keys = [c.spec_key for c in table_specs(table.id, profile)]
        assert len(set(keys)) == len(keys), table.id


def test_smoke_makes_cells_equal_only_where_they_differ_by_dataset():
    for table in PAPER_TABLES.values():
        full = {c.key: c.spec for c in table_specs(table.id, "full")}
        by_key: dict[str, list[str]] = {}
        for cell in table_specs(table.id, "smoke"):
            by_key.setdefault(cell.spec_key, []).append(cell.key)
        for keys in by_key.values():
            first = full[keys[0]].model_dump(exclude={"dataset"})
            assert all(full[k].model_dump(exclude={"dataset"}) == first for k in keys[1:]), keys


def _without(spec: dict, *paths: str) -> dict:
    spec = json.loads(json.dumps(spec))
    for path in paths:
        section, field = path.split(".")
        spec[section].pop(field)
    return spec


def test_budget_trains_a_sixth_of_the_papers_epochs_and_changes_nothing_else():
    assert BUDGET_FRACTION == 6
    for table in PAPER_TABLES.values():
        for (key, _, cell), budget in zip(table.cells(), table_specs(table.id, "budget"), strict=True):
            paper = parse_spec(cell.spec).model_dump(mode="json")
            short = budget.spec.model_dump(mode="json")
            assert short["optim"]["epochs"] == max(1, round(paper["optim"]["epochs"] / 6)), key
            assert _without(short, "optim.epochs") == _without(paper, "optim.epochs"), key
    assert {parse_spec(c.spec).optim.epochs: s.spec.optim.epochs
            for t in PAPER_TABLES.values() for (_, _, c), s in zip(t.cells(), table_specs(t.id, "budget"),
                                                                    strict=True)} == {1800: 300, 300: 50, 600: 100}


def test_full_is_the_papers_setting_unchanged():
    for table in PAPER_TABLES.values():
        for (_, _, cell), full in zip(table.cells(), table_specs(table.id, "full"), strict=True):
            assert full.spec == parse_spec(cell.spec)


def test_smoke_trains_tiny_models_for_two_epochs_on_synthetic_data_with_the_papers_regularizer():
    for table in PAPER_TABLES.values():
        for (_, _, cell), smoke in zip(table.cells(), table_specs(table.id, "smoke"), strict=True):
            paper = parse_spec(cell.spec)
            assert smoke.spec.dataset.name == "synthetic" and smoke.spec.dataset.train_size == 64
            assert smoke.spec.optim.epochs == 2 and smoke.spec.optim.batch_size <= 32
            assert smoke.spec.optim.replicas == paper.optim.replicas  # the paper's replica groups, smaller
            assert smoke.spec.regularization == paper.regularization
            assert smoke.spec.model.arch == paper.model.arch and smoke.spec.model != paper.model


def test_every_profile_is_labelled_and_only_full_claims_the_papers_setting():
    assert PROFILES["full"].label.startswith("full") and "paper's settings" in PROFILES["full"].label
    assert "not the paper's setting" in PROFILES["budget"].label
    assert "not a reproduction" in PROFILES["smoke"].label and not PROFILES["smoke"].comparable
    assert PROFILES["budget"].comparable


def test_profile_spec_resolves_a_partial_spec_with_the_papers_defaults():
    spec = profile_spec({"model": {"arch": "shake_resnet", "depth": 26, "width": 96}}, PROFILES["budget"])
    assert spec.optim.epochs == 300 and spec.optim.lr == 0.2


# ---------------------------------------------------------------------------------------------- cost

def test_the_flops_figures_cover_every_model_and_match_the_engine():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from worker.engine import build_model

    specs = [cell.spec for table in PAPER_TABLES.values() for profile in PROFILES
             for cell in table_specs(table.id, profile)]
    specs += [parse_spec(preset["spec"]) for preset in presets()]
    counted = {}
    for spec in specs:
        key = model_key(spec)
        if key in counted:
            continue
        with torch.device("meta"):  # counts FLOPs without computing anything
            model = build_model(spec).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 32, 32, device="meta"))
        counted[key] = counter.get_total_flops() / 1e9
    assert set(counted) == set(FORWARD_GFLOPS), {k: round(v, 4) for k, v in counted.items()}
    for key, gflops in counted.items():
        assert FORWARD_GFLOPS[key] == pytest.approx(gflops, abs=1e-4), f"{key!r}: {gflops:.4f}"


def test_the_backend_imports_no_torch():
    code = ("import sys, backend.api.routes.tables, backend.tables.reproduce, backend.tables.export; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# ------------------------------------------------------------------------------------------ rounding

@pytest.mark.parametrize("value, digits, text", [
    (78.125, 2, "78.13"),  # an exact binary tie: Python's format says 78.12
    (1.005, 2, "1.01"),  # prints as 1.005, stored just below it: toFixed says 1.00
    (2.675, 2, "2.68"), (-0.125, 2, "-0.13"), (0.0049, 2, "0.00"), (-0.001, 2, "0.00"), (12.0, 2, "12.00"),
    (1e-7, 2, "0.00"), (74.575, 4, "74.5750"), (0.5, 0, "1"), (-2.5, 0, "-3"),
])
def test_the_tables_round_half_away_from_zero_on_the_printed_decimal(value, digits, text):
    assert fixed(value, digits) == text
