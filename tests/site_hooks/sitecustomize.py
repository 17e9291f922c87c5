"""Test-only: point torchvision's CIFAR classes at a mirror of the test's own (tests/cifar_mirror.py).

Python imports `sitecustomize` at start-up from the path; tests/cifar_mirror.py puts this folder on
PYTHONPATH, with $SHAKELAB_TEST_CIFAR_PATCH naming a JSON file {"CIFAR10": {"url": ..., "tgz_md5": ...,
"train_list": ..., "test_list": ..., "meta": ...}}. When torchvision.datasets.cifar is imported (in the
engine's process), those class attributes are set; no other module is touched, and nothing is imported early.
"""

import importlib.abc
import json
import os
import sys

_TARGET = "torchvision.datasets.cifar"


class _PatchCifarOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, patch: dict):
        self.patch = patch

    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        spec = next(filter(None, (finder.find_spec(name, path, target) for finder in sys.meta_path
                                  if finder is not self and hasattr(finder, "find_spec"))), None)
        if spec is None:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            for class_name, attributes in self.patch.items():
                for attribute, value in attributes.items():
                    setattr(getattr(module, class_name), attribute, value)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("SHAKELAB_TEST_CIFAR_PATCH"):
    with open(os.environ["SHAKELAB_TEST_CIFAR_PATCH"]) as f:
        sys.meta_path.insert(0, _PatchCifarOnImport(json.load(f)))
