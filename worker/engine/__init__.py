"""ShakeLab's training engine: run spec, models, regularizers, data, training loop and CLI.

Names are handed on lazily so that `from worker.engine import RunSpec` (the backend's import) never
imports torch; `build_model`, `shake_shake` and the rest import it on first use.
"""

from importlib import import_module

_EXPORTS = {
    "RunSpec": "spec",
    "SpecError": "spec",
    "parse_spec": "spec",
    "paper_defaults": "spec",
    "ARCH_METHODS": "spec",
    "build_model": "models",
    "count_parameters": "models",
    "shake_shake": "regularizers",
    "shake_drop": "regularizers",
    "stochastic_depth": "regularizers",
    "drop_path": "regularizers",
    "train": "training",
    "TrainingDiverged": "training",
    "DataError": "data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'worker.engine' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
