"""Pruning masks stored as a reparametrisation that survives ``state_dict``, ``deepcopy`` and strict loading.

``torch.nn.utils.prune`` moves ``weight`` to ``weight_orig`` and recomputes ``weight = weight_orig *
weight_mask`` in a forward pre-hook. That makes ``weight`` a non-leaf attribute, which breaks
``copy.deepcopy`` (pytorch/pytorch#37322) and gives ``*_orig`` keys that a plain model cannot load
strictly (ahendriksen/msd_pytorch PR #3). Here ``weight`` stays the module's own leaf ``Parameter``,
zero where pruned; the mask is a persistent float buffer ``weight_mask`` (the name and dtype
``torch.nn.utils.prune`` uses); a forward pre-hook (a module-level function, so it deep-copies and
pickles) re-zeroes the pruned entries before every forward, so an optimizer step on them never shows.
Masks compose like ``torch.nn.utils.prune``'s ``PruningContainer``: a new mask is AND-ed with the old.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = [
    "PRUNABLE",
    "register_prunable",
    "prunable_types",
    "targets",
    "readout",
    "layer_names",
    "get_mask",
    "set_mask",
    "is_pruned",
    "remove",
    "rezero",
    "rezero_after_step",
    "effective_weight",
    "sparsity",
    "from_torch_prune",
    "to_torch_prune",
    "load_pruned",
    "dense_state_dict",
]

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)  # pruned out of the box; the layers of other packages register
Target = tuple[nn.Module, str]
_REGISTERED: list[type] = []


def register_prunable(cls: type) -> None:
    """Let `targets`, and so every pruning method, prune the ``weight`` of the instances of ``cls``.

    ``cls`` is an ``nn.Module`` subclass whose ``weight`` has the output units first (``[out, in, ...]``, as
    ``nn.Linear``'s and ``nn.Conv*``'s). A package registers its layers when imported, so that this
    package never imports it: `snn.delays.DelayedLinear` does (its delays are not pruned: a pruned
    synapse's delay has no effect). Registering a class again changes nothing."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"cls must be an nn.Module subclass, got {cls!r}")
    if cls not in PRUNABLE and cls not in _REGISTERED:
        _REGISTERED.append(cls)


def prunable_types() -> tuple[type, ...]:
    """The layer types `targets` prunes: `PRUNABLE` and those registered (`register_prunable`)."""
    return PRUNABLE + tuple(_REGISTERED)


def _kinds() -> str:
    return ", ".join(c.__name__ if c in PRUNABLE else f"{c.__module__}.{c.__qualname__}" for c in prunable_types())


def instance_of(obj, module: str, name: str) -> bool:
    """Whether ``obj`` is an instance of the class ``name`` defined in ``module`` or one of its submodules,
    judged by the names of its classes (``type(obj).__mro__``): nothing is imported, and the answer does
    not depend on what ``sys.modules`` holds."""
    return any(
        c.__qualname__ == name and (c.__module__ == module or c.__module__.startswith(module + "."))
        for c in type(obj).__mro__
    )


def _prunable(module) -> bool:
    return isinstance(module, prunable_types())


def targets(model, name: str = "weight") -> list[Target]:
    """The ``(module, parameter name)`` pairs to prune.

    ``model`` is an ``nn.Module`` (every layer of `prunable_types` inside it, ``nn.Linear``/``nn.Conv1d``/
    ``nn.Conv2d``/``snn.delays.DelayedLinear``..., in ``modules()`` order), or an
    iterable of such modules or of ``(module, name)`` pairs (as ``torch.nn.utils.prune.global_unstructured``).
    """
    if isinstance(model, nn.Module):
        found = [(m, name) for m in model.modules() if _prunable(m)]
        if not found:
            raise TypeError(f"model ({type(model).__name__}) holds no prunable layer ({_kinds()})")
        return found
    if not isinstance(model, Iterable):
        raise TypeError(
            f"model must be an nn.Module or an iterable of modules / (module, name) pairs, got {type(model).__name__}"
        )
    out = []
    for i, item in enumerate(model):
        module, pname = item if isinstance(item, tuple) else (item, name)
        if not _prunable(module):
            raise TypeError(f"model[{i}] must be one of {_kinds()}, got {type(module).__name__}")
        if not isinstance(getattr(module, pname, None), torch.Tensor):
            raise ValueError(f"model[{i}] ({type(module).__name__}) has no tensor named {pname!r}")
        out.append((module, pname))
    if not out:
        raise ValueError("model must name at least one layer to prune")
    return out


def readout(model: nn.Module) -> nn.Module:
    """The readout: the last prunable layer of ``model`` in ``modules()`` order (an ``nn.Sequential``'s last
    Linear/Conv; a `DelaySNN`'s last ``DelayedLinear``)."""
    return targets(model)[-1][0]


def layer_names(model, pairs: list[Target]) -> list[str]:
    """``"<qualified module name>.<parameter>"`` for each pair (``model[i] (Type).<parameter>`` when ``model``
    is a list of layers rather than an ``nn.Module``), for messages and per-layer results."""
    names = {id(m): n or type(m).__name__ for n, m in model.named_modules()} if isinstance(model, nn.Module) else {}
    return [
        f"{names[id(m)]}.{p}" if id(m) in names else f"model[{i}] ({type(m).__name__}).{p}"
        for i, (m, p) in enumerate(pairs)
    ]


def get_mask(module: nn.Module, name: str = "weight") -> torch.Tensor | None:
    """The float mask of ``module.<name>`` (ours or ``torch.nn.utils.prune``'s), or None."""
    return module._buffers.get(f"{name}_mask")


def is_pruned(module: nn.Module, name: str = "weight") -> bool:
    return get_mask(module, name) is not None


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """``weight ⊙ mask`` (detached), whatever holds the mask."""
    w = getattr(module, name).detach()
    mask = get_mask(module, name)
    return w if mask is None else w * mask


def _apply_masks_hook(module: nn.Module, args) -> None:
    """Forward pre-hook: zero every masked parameter where its mask is 0."""
    rezero_module(module)


@torch.no_grad()
def rezero_module(module: nn.Module) -> None:
    for bname, mask in module._buffers.items():
        if bname.endswith("_mask") and mask is not None and bname[:-5] in module._parameters:
            module._parameters[bname[:-5]].mul_(mask)


def set_mask(module: nn.Module, name: str, mask: torch.Tensor) -> None:
    """AND ``mask`` (bool or 0/1, the parameter's shape) into ``module.<name>``'s mask and zero the pruned weights.

    A mask left by ``torch.nn.utils.prune`` is taken over first (`from_torch_prune`).
    """
    if f"{name}_orig" in module._parameters:
        _adopt_torch_prune(module, name)
    param = module._parameters.get(name)
    if not isinstance(param, torch.Tensor):
        raise ValueError(f"{type(module).__name__} has no parameter named {name!r}")
    if tuple(mask.shape) != tuple(param.shape):
        raise ValueError(
            f"mask for {type(module).__name__}.{name} must have shape {tuple(param.shape)}, got {tuple(mask.shape)}"
        )
    mask = (mask != 0).to(param.dtype)
    old = get_mask(module, name)
    if old is None:
        module.register_buffer(f"{name}_mask", mask.to(param.device).clone())
    else:
        old.mul_(mask.to(old.device))
    if _apply_masks_hook not in module._forward_pre_hooks.values():
        module.register_forward_pre_hook(_apply_masks_hook)
    rezero_module(module)


def _adopt_torch_prune(module: nn.Module, name: str) -> None:
    """Turn ``torch.nn.utils.prune``'s ``<name>_orig``/``<name>_mask`` into our form (same mask)."""
    mask = module._buffers[f"{name}_mask"].detach().clone()
    torch.nn.utils.prune.remove(module, name)
    module.register_buffer(f"{name}_mask", mask)
    if _apply_masks_hook not in module._forward_pre_hooks.values():
        module.register_forward_pre_hook(_apply_masks_hook)


def remove(model: nn.Module) -> nn.Module:
    """Bake every mask in (the zeros stay) and drop masks and hooks: a plain model, as ``prune.remove``."""
    for module in model.modules():
        for bname in [b for b in module._buffers if b.endswith("_mask") and b[:-5] in module._parameters]:
            rezero_module(module)
            del module._buffers[bname]
        for key in [k for k, h in module._forward_pre_hooks.items() if h is _apply_masks_hook]:
            del module._forward_pre_hooks[key]
    return model


def rezero(model: nn.Module) -> None:
    """Zero every pruned weight of ``model`` now (e.g. after an optimizer step, before saving)."""
    for module in model.modules():
        rezero_module(module)


def rezero_after_step(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Register an optimizer step post-hook that calls `rezero(model)`; returns the hook handle."""
    return optimizer.register_step_post_hook(lambda *_: rezero(model))


def sparsity(model) -> dict:
    """Fraction of zero weights: ``{"total": s, "layers": {qualified name: s}}`` over `targets(model)`."""
    pairs = targets(model)
    zeros = total = 0
    layers = {}
    for label, (module, pname) in zip(layer_names(model, pairs), pairs):
        w = effective_weight(module, pname)
        z = int((w == 0).sum())
        layers[label] = z / w.numel()
        zeros, total = zeros + z, total + w.numel()
    return {"total": zeros / total, "layers": layers}


def from_torch_prune(model: nn.Module) -> nn.Module:
    """Take over every ``torch.nn.utils.prune`` mask in ``model`` (same masks, our storage)."""
    for module in model.modules():
        for pname in [p[:-5] for p in module._parameters if p.endswith("_orig")]:
            if f"{pname}_mask" in module._buffers:
                _adopt_torch_prune(module, pname)
    return model


def to_torch_prune(model: nn.Module) -> nn.Module:
    """Hand every mask of ours to ``torch.nn.utils.prune.custom_from_mask`` (the inverse of `from_torch_prune`)."""
    for module in model.modules():
        masks = {
            b[:-5]: m.clone()
            for b, m in module._buffers.items()
            if b.endswith("_mask") and b[:-5] in module._parameters
        }
        if not masks:
            continue
        for pname in masks:
            del module._buffers[f"{pname}_mask"]
        for key in [k for k, h in module._forward_pre_hooks.items() if h is _apply_masks_hook]:
            del module._forward_pre_hooks[key]
        for pname, mask in masks.items():
            torch.nn.utils.prune.custom_from_mask(module, pname, mask)
    return model


def dense_state_dict(model: nn.Module) -> dict:
    """``model.state_dict()`` without masks (weights zero where pruned): loads strictly into the unpruned model."""
    return {k: v for k, v in _baked(model.state_dict()).items() if not k.endswith("_mask")}


def _baked(state: dict) -> dict:
    """A state dict with ``torch.nn.utils.prune``'s ``X_orig`` keys turned into ``X = X_orig * X_mask``."""
    out = {}
    for key, value in state.items():
        if key.endswith("_orig") and f"{key[:-5]}_mask" in state:
            out[key[:-5]] = value * state[f"{key[:-5]}_mask"]
        else:
            out[key] = value
    return out


def load_pruned(model: nn.Module, state_dict: dict, strict: bool = True):
    """Load a pruned ``state_dict`` (ours or ``torch.nn.utils.prune``'s) into a model, pruned or not.

    Masks named in ``state_dict`` are created on the matching modules first, so a strict load
    works into a freshly built dense model. Keys and shapes are checked before anything is
    copied; on an error the masks just added are removed again and the model is left as it was.
    """
    state = _baked(state_dict)
    modules = dict(model.named_modules())
    added = []
    for key in [k for k in state if k.endswith("_mask")]:
        owner, _, bname = key.rpartition(".")
        module = modules.get(owner)
        if module is not None and bname[:-5] in module._parameters and get_mask(module, bname[:-5]) is None:
            module.register_buffer(bname, torch.ones_like(module._parameters[bname[:-5]]))
            added.append((module, bname))
    try:
        _check_state(model.state_dict(), state, strict)
    except (KeyError, ValueError):
        for module, bname in added:
            del module._buffers[bname]
        raise
    for module, _ in added:
        if _apply_masks_hook not in module._forward_pre_hooks.values():
            module.register_forward_pre_hook(_apply_masks_hook)
    result = model.load_state_dict(state, strict=strict)
    rezero(model)
    return result


def _check_state(expected: dict, state: dict, strict: bool) -> None:
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if strict and (missing or unexpected):
        raise KeyError(f"state_dict does not match the model: missing keys {missing}, unexpected keys {unexpected}")
    for key in set(expected) & set(state):
        if tuple(expected[key].shape) != tuple(state[key].shape):
            raise ValueError(
                f"state_dict[{key!r}] has shape {tuple(state[key].shape)}, "
                f"the model expects {tuple(expected[key].shape)}"
            )
