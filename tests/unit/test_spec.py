"""The run spec: the papers' defaults, and errors that name the field and the problem."""

import json
import subprocess
import sys

import pytest

from worker.engine.spec import ARCH_METHODS, RunSpec, SpecError, paper_defaults, parse_spec, valid_depths


def errors_of(data) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {e["field"]: e["message"] for e in info.value.errors}


def test_model_and_regularization_alone_make_a_valid_spec_with_the_papers_settings():
    spec = parse_spec({"model": {"arch": "pyramidnet", "depth": 272, "alpha": 200},
                       "regularization": {"method": "shakedrop"}})
    assert spec.dataset.name == "cifar10"
    assert spec.regularization.p_last == 0.5
    assert spec.regularization.alpha_range == (-1.0, 1.0) and spec.regularization.beta_range == (0.0, 1.0)
    assert (spec.optim.epochs, spec.optim.batch_size, spec.optim.lr) == (1800, 128, 0.1)
    assert spec.optim.nesterov and spec.optim.weight_decay == 1e-4 and spec.schedule.kind == "cosine"


def test_shake_shake_defaults_follow_table_1():
    spec = parse_spec({"model": {"arch": "shake_resnet"}, "regularization": {"method": "shake_shake"}})
    assert (spec.model.depth, spec.model.width) == (26, 96)
    assert (spec.regularization.forward, spec.regularization.backward, spec.regularization.level) == \
        ("shake", "shake", "image")
    assert (spec.optim.epochs, spec.optim.batch_size, spec.optim.lr, spec.optim.weight_decay) == \
        (1800, 128, 0.2, 1e-4)


def test_shake_resnext_defaults_follow_table_2():
    spec = parse_spec({"dataset": {"name": "cifar100"}, "model": {"arch": "shake_resnext"}})
    assert (spec.model.depth, spec.model.cardinality, spec.model.base_width) == (29, 4, 64)
    assert (spec.optim.batch_size, spec.optim.lr, spec.optim.weight_decay) == (32, 0.025, 5e-4)


def test_nasnet_defaults_are_the_tf_slim_cifar_settings():
    spec = parse_spec({"model": {"arch": "nasnet"}, "regularization": {"method": "scheduled_drop_path"}})
    assert (spec.model.cells, spec.model.filters) == (6, 32)
    assert (spec.optim.epochs, spec.optim.batch_size, spec.optim.lr, spec.optim.grad_clip) == (600, 32, 0.025, 5.0)
    assert spec.augment.cutout == 16 and spec.regularization.p_max == 0.4


def test_cutout_is_8_pixels_on_cifar100():
    assert paper_defaults("nasnet", "cifar100")["augment"]["cutout"] == 8


def test_digits_are_not_flipped_by_default():
    assert parse_spec({"dataset": {"name": "digits"}, "model": {"arch": "resnet"}}).augment.flip is False


def test_a_partial_section_keeps_the_papers_values_for_the_rest():
    spec = parse_spec({"model": {"arch": "shake_resnet"}, "optim": {"epochs": 10}})
    assert spec.optim.epochs == 10 and spec.optim.lr == 0.2 and spec.optim.batch_size == 128


def test_multistep_milestones_are_fractions_of_the_run():
    spec = parse_spec({"model": {"arch": "wrn"}, "optim": {"epochs": 20}})
    assert spec.schedule.kind == "multistep" and spec.schedule.milestones == [0.3, 0.6, 0.8]


def test_a_resolved_spec_round_trips_through_json():
    spec = parse_spec({"model": {"arch": "resnext", "depth": 11}, "regularization": {"method": "stochastic_depth"}})
    assert parse_spec(spec.model_dump_json()) == spec
    assert parse_spec(json.loads(spec.model_dump_json())) == spec


@pytest.mark.parametrize("arch", sorted(set(ARCH_METHODS) - {"nasnet"}))
def test_the_smallest_valid_depth_of_every_family_validates(arch):
    depth = valid_depths(arch, bottleneck=arch == "pyramidnet")[0]
    assert parse_spec({"model": {"arch": arch, "depth": depth}}).model.depth == depth


def test_unknown_arch_names_the_field_and_the_choices():
    errors = errors_of({"model": {"arch": "vgg"}})
    assert "unknown arch 'vgg'" in errors["model.arch"] and "pyramidnet" in errors["model.arch"]


def test_a_depth_the_family_cannot_build_names_the_rule():
    errors = errors_of({"model": {"arch": "pyramidnet", "depth": 100, "bottleneck": True}})
    assert "9n+2" in errors["model.depth"] and "got 100" in errors["model.depth"]
    errors = errors_of({"model": {"arch": "wrn", "depth": 27}})
    assert "6n+4" in errors["model.depth"]


def test_a_method_that_does_not_fit_the_arch_is_an_error():
    errors = errors_of({"model": {"arch": "shake_resnet"}, "regularization": {"method": "shakedrop"}})
    assert "does not fit arch 'shake_resnet'" in errors["regularization"]
    errors = errors_of({"model": {"arch": "pyramidnet"}, "regularization": {"method": "shake_shake"}})
    assert "does not fit" in errors["regularization"]


def test_reversed_ranges_are_errors():
    errors = errors_of({"model": {"arch": "pyramidnet"},
                        "regularization": {"method": "shakedrop", "beta_range": [1, 0]}})
    assert "reversed" in errors["regularization.beta_range"]


def test_non_positive_epochs_and_learning_rates_are_errors():
    errors = errors_of({"model": {"arch": "pyramidnet"}, "optim": {"epochs": 0, "lr": -1}})
    assert set(errors) == {"optim.epochs", "optim.lr"}


def test_unknown_keys_are_errors_not_silently_ignored():
    errors = errors_of({"model": {"arch": "pyramidnet"}, "regularization": {"method": "shakedrop", "p_lats": 0.2}})
    assert "regularization.p_lats" in errors


@pytest.mark.parametrize("spec, field, suggested", [
    ({"model": {"arch": "pyramidnet"}, "optim": {"batchsize": 64}}, "optim.batchsize", "batch_size"),
    ({"model": {"arch": "pyramidnet"}, "regularization": {"method": "shakedrop", "p_lats": 0.2}},
     "regularization.p_lats", "p_last"),
    ({"model": {"arch": "pyramidnet", "alhpa": 48}}, "model.alhpa", "alpha"),
    ({"model": {"arch": "pyramidnet"}, "optimm": {"epochs": 3}}, "optimm", "optim"),
])
def test_an_unknown_key_suggests_the_closest_allowed_key(spec, field, suggested):
    assert f"did you mean {suggested!r}?" in errors_of(spec)[field]


def test_the_suggestion_comes_from_the_keys_of_the_chosen_arch():
    # "widen" is Wide ResNet's key; the Shake-Shake net at hand calls its width `width`.
    errors = errors_of({"model": {"arch": "shake_resnet", "widen": 4}, "regularization": {"method": "shake_shake"}})
    assert "did you mean 'width'?" in errors["model.widen"]


def test_an_unknown_key_with_no_close_match_lists_the_keys_of_its_section():
    message = errors_of({"model": {"arch": "pyramidnet"}, "augment": {"mixup": 0.2}})["augment.mixup"]
    assert "did you mean" not in message
    assert "crop_padding, flip, cutout, random_erasing" in message


def test_keep_needs_a_shaken_forward():
    errors = errors_of({"model": {"arch": "shake_resnet"},
                        "regularization": {"method": "shake_shake", "forward": "even", "backward": "keep"}})
    assert "keep" in errors["regularization"]


def test_dataset_sizes_apply_only_to_synthetic():
    assert "synthetic" in errors_of({"dataset": {"name": "cifar10", "train_size": 100},
                                     "model": {"arch": "resnet"}})["dataset"]
    spec = parse_spec({"dataset": {"name": "synthetic", "train_size": 64}, "model": {"arch": "resnet"}})
    assert spec.dataset.train_size == 64


def test_warmup_must_be_shorter_than_the_run():
    errors = errors_of({"model": {"arch": "pyramidnet"}, "optim": {"epochs": 5},
                        "schedule": {"warmup_epochs": 5}})
    assert "warmup_epochs" in errors["schedule"]


def test_the_json_schema_offers_every_arch_and_method():
    schema = json.dumps(RunSpec.model_json_schema())
    for name in [*ARCH_METHODS, *{m for ms in ARCH_METHODS.values() for m in ms}]:
        assert f'"{name}"' in schema


def test_importing_the_spec_does_not_import_torch():
    code = ("import sys; from worker.engine import RunSpec, parse_spec; "
            "parse_spec({'model': {'arch': 'pyramidnet'}}); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
