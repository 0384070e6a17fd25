"""`sdrnet.prune.fit_to_target` on a model straight out of a training step (SpikingJelly's ``v`` is then a
non-leaf tensor of the autograd graph, which ``copy.deepcopy`` refuses)."""

import numpy as np
import pytest
import torch
from torch import nn

from sdrnet import prune
from sdrnet.core import Events

neuron = pytest.importorskip("spikingjelly.activation_based.neuron")


def trained_one_step(seed=0):
    """Linear → LIFNode → Linear after one SGD step, its LIF memory left as the step left it."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), neuron.LIFNode(tau=2.0, step_mode="m"), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = (torch.rand(7, 4, 6) < 0.5).float()  # [T, B, C]
    model(x).pow(2).mean().backward()
    opt.step()
    return model


def test_fit_to_target_right_after_training_leaves_the_model_and_gives_a_fresh_copy():
    model = trained_one_step()
    v = model[1].v
    assert v.grad_fn is not None  # the case that made copy.deepcopy raise
    v_before = v.detach().clone()
    weights = {k: p.detach().clone() for k, p in model.state_dict().items()}

    fit = prune.fit_to_target(model, prune.LOIHI)

    assert model[1].v is v and torch.equal(v.detach(), v_before)  # the caller's model keeps its memory
    assert all(torch.equal(p, weights[k]) for k, p in model.state_dict().items())
    assert isinstance(fit.model[1].v, float) and fit.model[1].v == 0.0  # the copy starts at rest (v_reset)
    x = (torch.rand(9, 2, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    with torch.no_grad():
        expected = fit.model(x).numpy()  # no reset_net needed first
    np.testing.assert_allclose(fit.network.run(Events.from_dense(x.numpy())).output, expected, atol=1e-5)
    assert fit.model[1].v is not v
