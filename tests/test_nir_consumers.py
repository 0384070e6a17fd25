"""sdrnet's NIR against the real consumers: graphs written by `network_to_nir` run in snnTorch's and
SpikingJelly's NIR importers (and Norse's) with the core's spikes, and graphs written by snnTorch (Leaky,
RLeaky, Synaptic) and Norse import into `network_from_nir` with the spikes of the module that wrote them,
or are refused naming the node and the field. Weights are dyadic (k/8), so every float sum is exact and
any difference is a difference of semantics, not of rounding; thresholds of 1 make ties (v = θ) common.
Each consumer is skipped when it is not installed (`pip install 'sdrnet[test]'` installs them)."""

import contextlib
import io
import logging
from dataclasses import replace

import numpy as np
import pytest

nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")

from sdrnet.core import CubaLIFParams, Events, IFParams, Layer, LIFParams, Network, Synapses  # noqa: E402
from sdrnet.core.neurons import core_threshold  # noqa: E402
from sdrnet.core.nir import network_from_nir, network_to_nir  # noqa: E402

DT = 1e-4  # snnTorch's importer and exporter assume dt = 1e-4 s whatever the graph says
T = 40


def dyadic(rng, shape, density=0.6):
    return (rng.integers(-4, 13, shape) / 8.0 * (rng.random(shape) < density)).astype(np.float32)


def spikes_in(rng, n, batch=4, p=0.4):
    return (rng.random((T, batch, n)) < p).astype(np.float32)


def core_output(network, x):
    """The last layer's spikes ``[T, B, n]`` (the steps the input lasts)."""
    return network.run(Events.from_dense(x, dt=network.dt), n_steps=T).output


def quiet(fn, *args, **kwargs):
    """``fn(*args)`` with snnTorch's prints silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def two_layers(rng, first, second, bias=0.0, n=(10, 12, 6)):
    return Network(
        [
            Layer(Synapses.from_dense(dyadic(rng, n[:2])), first, bias=bias),
            Layer(Synapses.from_dense(dyadic(rng, n[1:])), second),
        ],
        dt=DT,
    )


# ---------------------------------------------------------------------------------------------- runners


def run_snntorch(graph, x):
    """snnTorch's reading of ``graph`` (its neurons keep their state inside; a recurrent loop's in ``state``)."""
    from snntorch.import_nir import import_from_nir

    return run_stateful(quiet(import_from_nir, graph), x)


def run_spikingjelly(graph, x):
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    module, state, out = import_from_nir(graph, dt=DT), None, []
    with torch.no_grad():
        for t in range(len(x)):
            o, state = module(torch.from_numpy(x[t]), state)
            out.append(o)
    return torch.stack(out).numpy()


def run_stateful(module, x):
    """A Norse or snnTorch module ``(x, state) -> (out, state)`` over time."""
    state, out = None, []
    with torch.no_grad():
        for t in range(len(x)):
            o, state = module(torch.from_numpy(x[t]), state)
            out.append(o)
    return torch.stack(out).numpy()


# ---------------------------------------------------------------------------------------------- sdrnet → snnTorch


@pytest.mark.timeout(60)
def test_snntorch_runs_sdrnet_lif_and_cuba_lif_with_identical_spikes(rng):
    pytest.importorskip("snntorch")
    x = spikes_in(rng, 10)
    nets = [
        two_layers(rng, LIFParams(tau=4.0, decay_input=False), LIFParams(tau=2.0, decay_input=False), bias=0.125),
        # r = 1: snnTorch scales the threshold by tau instead of the input (exact for tau = 2, 4)
        two_layers(rng, LIFParams(tau=2.0), LIFParams(tau=4.0)),
        two_layers(
            rng,
            CubaLIFParams(alpha=0.5, beta=0.75, reset_mechanism="zero", reset_delay=False),
            LIFParams(tau=2.0, decay_input=False),
        ),
    ]
    ties = 0
    for net in nets:
        expected = core_output(net, x)
        assert 0 < expected.sum() < expected.size
        np.testing.assert_array_equal(run_snntorch(network_to_nir(net, integer_weights=False), x), expected)
        ties += _ties(net, x)
    assert ties > 0  # the potential lands exactly on θ: NIR's v > θ⁻ is what makes these agree


def _ties(net, x):
    """How many spikes change when LIF/IF layers fire at v > θ instead of the core's v >= θ (potentials landing
    exactly on θ: where a consumer reading NIR's v > θ literally, without θ⁻, would differ)."""
    strict = Network(
        [
            replace(layer, neuron=replace(layer.neuron, v_threshold=core_threshold(layer.neuron.v_threshold)))
            if isinstance(layer.neuron, (LIFParams, IFParams))
            else layer
            for layer in net.layers
        ],
        dt=net.dt,
    )
    return int((core_output(strict, x) != core_output(net, x)).sum())


def test_snntorch_refuses_what_it_cannot_run(rng):
    """The table's "refused" rows for snnTorch 1.0's importer: IF (it needs r = 1, NIR's IF has r = 1/dt),
    the LI readout and Delay (no mapping)."""
    pytest.importorskip("snntorch")
    with pytest.raises(AssertionError, match="r != 1"):
        run_snntorch(
            network_to_nir(two_layers(rng, IFParams(), LIFParams(tau=2.0)), integer_weights=False), spikes_in(rng, 10)
        )
    readout = two_layers(rng, LIFParams(tau=2.0), LIFParams(tau=4.0, v_threshold=np.inf))
    with pytest.raises(ValueError, match="LI"):
        run_snntorch(network_to_nir(readout, integer_weights=False), spikes_in(rng, 10))
    delayed = Network([Layer(Synapses.from_dense(dyadic(rng, (4, 3)), np.full((4, 3), 2)), LIFParams())], dt=DT)
    with pytest.raises(ValueError, match="Delay"):
        run_snntorch(network_to_nir(delayed, integer_weights=False), spikes_in(rng, 4))


# ---------------------------------------------------------------------------------------------- sdrnet → SpikingJelly


@pytest.mark.timeout(60)
def test_spikingjelly_runs_sdrnet_lif_and_if_with_identical_spikes(rng):
    pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    x = spikes_in(rng, 10)
    nets = [
        two_layers(rng, LIFParams(tau=4.0, decay_input=False, v_reset=-0.25), LIFParams(tau=2.0), bias=0.125),
        two_layers(rng, IFParams(v_threshold=1.5, v_reset=0.25), LIFParams(tau=2.0, decay_input=False)),
    ]
    for net in nets:
        expected = core_output(net, x)
        assert 0 < expected.sum() < expected.size and _ties(net, x) > 0
        # SpikingJelly fires at v >= θ⁻: it agrees with the core except at v = θ⁻ exactly (never with these weights)
        np.testing.assert_array_equal(run_spikingjelly(network_to_nir(net, integer_weights=False), x), expected)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("recurrent_first", [False, True])
def test_spikingjelly_runs_a_recurrent_sdrnet_layer(recurrent_first, rng):
    """A recurrent layer is a loop lif → Linear → lif, which SpikingJelly (through nirtorch) runs reading the
    previous step's spikes, as the core does, in either order of the edges. (snnTorch 1.0's importer
    rewrites the loop into a subgraph that sends the feed-forward input through the recurrent weights too.)"""
    pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    net = Network(
        [
            Layer(
                Synapses.from_dense(dyadic(rng, (10, 8))),
                LIFParams(tau=4.0, decay_input=False),
                recurrent=Synapses.from_dense(dyadic(rng, (8, 8), 0.5)),
            ),
            Layer(Synapses.from_dense(dyadic(rng, (8, 5))), LIFParams(tau=2.0, decay_input=False)),
        ],
        dt=DT,
    )
    graph = network_to_nir(net, integer_weights=False)
    loop = ("w0r_d0", "lif0")
    if recurrent_first:
        graph.edges = [loop] + [e for e in graph.edges if e != loop]
    x = spikes_in(rng, 10)
    expected = core_output(net, x)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(run_spikingjelly(graph, x), expected)


@pytest.mark.timeout(60)
def test_spikingjelly_cuba_lif_differs_only_at_ties(rng):
    """SpikingJelly reads NIR's CubaLIF threshold as v >= θ (NIR and the core: v > θ): identical spikes for a
    threshold no dyadic potential reaches exactly (0.7)."""
    pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    cuba = CubaLIFParams(alpha=0.5, beta=0.75, v_threshold=0.7, reset_mechanism="zero", reset_delay=False)
    net = two_layers(rng, cuba, LIFParams(tau=2.0, decay_input=False))
    x = spikes_in(rng, 10)
    expected = core_output(net, x)
    assert expected.sum() > 0
    np.testing.assert_array_equal(run_spikingjelly(network_to_nir(net, integer_weights=False), x), expected)


# ---------------------------------------------------------------------------------------------- snnTorch → sdrnet


_ZERO = {"init_hidden": True, "reset_mechanism": "zero", "reset_delay": False}


class _Feedforward(torch.nn.Module):
    """Linear → neuron → Linear → Leaky, as snnTorch's NIR examples build it (states inside: init_hidden)."""

    def __init__(self, first, snn, rng):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(10, 8), torch.nn.Linear(8, 5, bias=False)
        for fc in (self.fc1, self.fc2):
            fc.weight.data = torch.from_numpy(dyadic(rng, tuple(fc.weight.shape)))
        self.fc1.bias.data = torch.full((8,), 0.0625)
        self.first = first
        self.second = snn.Leaky(beta=torch.full((5,), 0.5), threshold=torch.ones(5), **_ZERO)

    def forward(self, x):
        return self.second(self.fc2(self.first(self.fc1(x))))


def _snntorch_models(rng):
    snn = pytest.importorskip("snntorch")
    per_neuron = {"beta": torch.full((8,), 0.75), "threshold": torch.ones(8), **_ZERO}  # snnTorch needs the shape
    leaky = snn.Leaky(**per_neuron)
    rleaky = snn.RLeaky(linear_features=8, **per_neuron)
    rleaky.recurrent.weight.data = torch.from_numpy(dyadic(rng, (8, 8), 0.5))
    rleaky.recurrent.bias.data = torch.full((8,), -0.125)
    synaptic = snn.Synaptic(alpha=torch.full((8,), 0.5), beta=torch.full((8,), 0.75), threshold=torch.ones(8), **_ZERO)
    return {
        name: _Feedforward(m, snn, rng) for name, m in (("Leaky", leaky), ("RLeaky", rleaky), ("Synaptic", synaptic))
    }


def _run_snntorch_module(module, x):
    import snntorch.utils

    snntorch.utils.reset(module)
    with torch.no_grad():
        return torch.stack([module(torch.from_numpy(x[t])) for t in range(len(x))]).numpy()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["Leaky", "RLeaky", "Synaptic"])
def test_snntorch_exports_import_with_identical_spikes(kind, rng):
    from snntorch.export_nir import export_to_nir

    module = _snntorch_models(rng)[kind]
    graph = quiet(export_to_nir, module, torch.zeros(1, 10), ignore_dims=[0])
    if kind == "RLeaky":  # snnTorch lists the recurrent edge into the LIF before the feed-forward one
        into = [a for a, b in graph.edges if b == "first.lif"]
        assert into == ["first.w_rec", "fc1"]
    net = network_from_nir(graph, dt=DT)
    assert (net.layers[0].recurrent is not None) == (kind == "RLeaky")
    x = spikes_in(rng, 10)
    expected = _run_snntorch_module(module, x)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(core_output(net, x), expected)


@pytest.mark.timeout(60)
def test_snntorch_default_leaky_is_written_as_a_zero_reset(rng):
    """snnTorch writes every Leaky as NIR's LIF (reset to v_reset = 0 in the spike's step), also one with its
    default subtractive, delayed reset: the file means the zero reset, and the core runs what the file says
    (as snnTorch's own importer of that file does)."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    module = _Feedforward(snn.Leaky(beta=torch.full((8,), 0.75), threshold=torch.ones(8), init_hidden=True), snn, rng)
    graph = quiet(export_to_nir, module, torch.zeros(1, 10), ignore_dims=[0])
    x = spikes_in(rng, 10)
    np.testing.assert_array_equal(core_output(network_from_nir(graph, dt=DT), x), run_snntorch(graph, x))


# ---------------------------------------------------------------------------------------------- Norse ↔ sdrnet


def _norse():
    norse = pytest.importorskip("norse.torch")
    logging.getLogger().setLevel(logging.ERROR)
    return norse


@pytest.mark.timeout(60)
def test_norse_graph_imports_as_norse_reads_it(rng):
    """Norse 1.1 writes a LIFBoxCell's tau as dt / tau_mem_inv (dt·τ, not τ), so its own module runs
    differently from its file; the core runs the file as Norse's own importer (`from_nir`) reads it."""
    norse = _norse()

    def lif(n):  # Norse writes the parameters' shapes: give every neuron its own
        p = norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 500.0), v_th=torch.ones(n), v_leak=torch.zeros(n))
        return norse.LIFBoxCell(p, dt=1e-3)

    fc1, fc2 = torch.nn.Linear(10, 8), torch.nn.Linear(8, 5)
    for fc in (fc1, fc2):
        fc.weight.data, fc.bias.data = (
            torch.from_numpy(dyadic(rng, tuple(fc.weight.shape))),
            torch.zeros(fc.out_features),
        )
    graph = norse.to_nir(norse.SequentialState(fc1, lif(8), fc2, lif(5)), torch.zeros(10), dt=1e-3)
    assert float(graph.nodes["1"].tau[0]) == pytest.approx(2e-6)  # dt / tau_mem_inv = 1e-3 / 500
    # in steps of 1e-3 s that is a time constant of 0.002 steps, which no discrete LIF has
    with pytest.raises(ValueError, match=r"NIR node '1': tau must be .*>= 1"):
        network_from_nir(graph, dt=1e-3)
    # the same graph read at dt = 1e-6 s: tau = 2 steps, as Norse's from_nir(graph, dt=1e-6) runs it
    net = network_from_nir(graph, dt=1e-6)
    x = spikes_in(rng, 10)
    expected = run_stateful(norse.from_nir(graph, dt=1e-6), x)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(core_output(net, x), expected)


def test_norse_cuba_lif_and_if_are_refused_naming_the_field():
    """Norse writes its LIFCell as a CubaLIF with r = 1 (NIR's CubaLIF of snnTorch's Synaptic has r = tau_mem/dt)
    and its IAFCell as an IF with r = 1 (NIR's IF step v += dt·r·I needs r = 1/dt)."""
    norse = _norse()
    one = torch.ones(1)
    cells = {
        r"\b1\.r must be 0\.01": norse.LIFCell(
            norse.LIFParameters(tau_mem_inv=100 * one, tau_syn_inv=200 * one, v_leak=0 * one, v_th=one)
        ),
        r"\b1\.r must be 1/dt": norse.IAFCell(norse.IAFParameters(v_th=one)),
    }
    for message, cell in cells.items():
        graph = norse.to_nir(norse.SequentialState(torch.nn.Linear(3, 1), cell), torch.zeros(3), dt=1e-3)
        with pytest.raises(ValueError, match=message):
            network_from_nir(graph, dt=1e-3)
