"""The compiled model keeps one static graph per batch size: a run's partial last batch gets its own graph
and does not turn the full batches' graph into a dynamic-shape one (issue 8's fast path)."""

import pytest
import torch
from torch import nn

from worker.engine.training import _compiled


@pytest.fixture
def graphs(monkeypatch):
    """Compile through dynamo with the engine's options but a recording backend (no inductor: seconds, not
    minutes); yields (graphs compiled, the graph each call ran)."""
    compiled, ran = [], []

    def backend(graph_module, example_inputs):
        index = len(compiled)
        compiled.append(graph_module)

        def run(*args):
            ran.append(index)
            return graph_module.forward(*args)
        return run

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **options: real_compile(
        model, **{**options, "mode": None, "backend": backend}))
    torch._dynamo.reset()  # dynamo's per-code state (automatic dynamic shapes) must not leak in or out
    yield compiled, ran
    torch._dynamo.reset()


def test_full_batches_after_a_partial_batch_run_the_full_batch_graph(graphs):
    compiled, ran = graphs
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    forward = _compiled(model, torch.device("cpu"), True, None)
    for batch in (8, 8, 5, 8):  # an epoch's full batches, its last partial batch, the next epoch's first
        forward(torch.randn(batch, 3, 32, 32)).sum().backward()
    assert len(compiled) == 2
    assert ran == [0, 0, 1, 0]
