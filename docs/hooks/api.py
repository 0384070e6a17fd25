"""MkDocs hook: writes the API reference pages (``api/*.md``) at build time from the packages themselves.

Every module of `sdrnet`, `snn` and `dendrites` is documented (except the Numba kernel modules, internal, and
private ones): its public names are its ``__all__``, or, for a module without one, the public names it defines.
Each object is documented once, in the section of the module that defines it; a package's section lists what it
exports in a table linking there. A name added to an ``__all__`` therefore appears in the reference without
editing a page, and a docstring that does not render fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field

import griffe
from mkdocs.structure.files import File

PACKAGES = ("sdrnet", "snn", "dendrites")
_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!etc)\.\s+(?=[A-Z`(])")
# Numba kernels are internal (each has a plain-numpy reference in tests/reference.py); __main__ runs the CLI.
EXCLUDED_LEAVES = ("kernels", "__main__")

# page -> (title, introduction, the module prefixes it holds); a module goes to the page of its longest prefix
PAGES = {
    "api/core.md": (
        "sdrnet.core",
        "Events, synapses, the kernels that move events through synapses, and the event-driven `Network`.",
        ("sdrnet.core",),
    ),
    "api/neurons.md": (
        "sdrnet.core.neurons",
        "Neuron models as data: each gives the kernel its constants, Brian2 its equations and NIR its node.",
        ("sdrnet.core.neurons",),
    ),
    "api/protocol.md": (
        "sdrnet.core.protocol",
        "The one interface of every model on the core: `to_core`, `CoreModel`, `RunResult`, `register_core`.",
        ("sdrnet.core.protocol",),
    ),
    "api/interop.md": (
        "Interop",
        "Exchange of core networks with NIR (and the other simulators and data libraries sdrnet talks to).",
        ("sdrnet.core.nir", "sdrnet.core.pynn", "sdrnet.core.tonic"),
    ),
    "api/sdr.md": (
        "SDRs, encoders, data sets",
        "Sparse distributed representations, the encoders that make them, and the IDX (MNIST) reader.",
        ("sdrnet.sdr", "sdrnet.encoders", "sdrnet.datasets"),
    ),
    "api/sparsey.md": ("sdrnet.sparsey", "Sparsey associative memory (Rinkus 2010, 2014).", ("sdrnet.sparsey",)),
    "api/prune.md": ("sdrnet.prune", "Pruning for neuromorphic targets.", ("sdrnet.prune",)),
    "api/snn.md": (
        "snn",
        "Spiking networks with learnable delays (DCLS), SHD/SSC data, training and export.",
        ("snn",),
    ),
    "api/delta.md": ("snn.delta", "Delta activation layers: temporal sparsity.", ("snn.delta",)),
    "api/dendrites.md": (
        "dendrites",
        "Ahmad & Hawkins (2016): closed forms, neurons with segments on the core, Monte Carlo, Brian2.",
        ("dendrites",),
    ),
    "api/active-dendrites.md": (
        "dendrites.nn",
        "Active-dendrite deep networks (Iyer et al. 2022) and the continual-learning harness.",
        ("dendrites.nn", "dendrites.continual"),
    ),
    "api/cli.md": (
        "Command line and helpers",
        "The `sdrnet` command and its plugin commands, and the small helpers every package shares.",
        ("sdrnet", "sdrnet.cli", "snn.commands", "dendrites.commands"),
    ),
}


@dataclass
class Section:
    """One module's part of a page: the names it exports and, among them, the ones it defines."""

    module: str
    exports: dict[str, str] = field(default_factory=dict)  # name -> path of the object
    summaries: dict[str, str] = field(default_factory=dict)  # name -> first sentence of its docstring
    values: dict[str, str] = field(default_factory=dict)  # name -> repr, for names griffe cannot see
    defined: list[str] = field(default_factory=list)


def documented_modules() -> list[str]:
    """Every importable, non-private module of the packages, minus the excluded leaves."""
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, f"{package}."):
            leaf = info.name.rsplit(".", 1)[1]
            if leaf not in EXCLUDED_LEAVES and not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


def public_names(module: str, tree: griffe.Module) -> list[str]:
    """``__all__`` at run time, or the public names the module itself defines (not imports, not submodules)."""
    try:
        runtime = importlib.import_module(module)
    except ImportError:  # an optional package it needs at import is missing: read what griffe can
        return list(tree.exports) if tree.exports is not None else []
    if hasattr(runtime, "__all__"):
        return list(runtime.__all__)
    return [n for n, m in tree.members.items() if not n.startswith("_") and not m.is_alias and not m.is_module]


def load_trees(modules: list[str]) -> dict[str, griffe.Module]:
    """The griffe tree of every module, from one loader (each package parsed once, aliases left unresolved)."""
    loader = griffe.GriffeLoader(search_paths=["."])
    packages = {p: loader.load(p) for p in PACKAGES}
    return {m: packages[m.split(".")[0]][m.split(".", 1)[1]] if "." in m else packages[m] for m in modules}


def target_path(module: str, name: str, trees: dict[str, griffe.Module], modules: list[str]) -> str:
    """The path of the object that ``module.name`` is: griffe follows imports; a lazy export (PEP 562
    ``__getattr__``, which griffe cannot see) is found as the documented module that defines the same value;
    "" for a name griffe cannot see at all (it is then listed with its value)."""
    tree = trees[module]
    if name in tree.members:
        member = tree.members[name]
        return member.final_target.path if member.is_alias else member.path
    value = getattr(importlib.import_module(module), name)
    for other in modules:
        member = trees[other].members.get(name)
        if member is not None and not member.is_alias and getattr(importlib.import_module(other), name) is value:
            return member.path
    return ""  # assigned in a form griffe does not read (e.g. tuple unpacking): shown by its value


def page_of(module: str) -> str:
    """The page whose longest prefix matches the module."""
    best, length = "", -1
    for page, (_, _, prefixes) in PAGES.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = page, len(prefix)
    if not best:
        raise LookupError(f"{module}: no API page holds it (add a prefix to PAGES in docs/hooks/api.py)")
    return best


def build_sections() -> dict[str, list[Section]]:
    """page -> its sections, each object assigned to the module that defines it."""
    modules = documented_modules()
    trees = load_trees(modules)
    sections = {m: Section(m) for m in modules}
    for module in modules:
        for name in public_names(module, trees[module]):
            path = target_path(module, name, trees, modules)
            if not path:
                sections[module].values[name] = repr(getattr(importlib.import_module(module), name))
                continue
            sections[module].exports[name] = path
            sections[module].summaries[name] = summary(trees, path)
    for section in list(sections.values()):
        for name, path in list(section.exports.items()):
            home = path.rsplit(".", 1)[0]
            if path in sections:  # the name is a module (a submodule shadowing an import): a row linking there
                continue
            if home not in sections:  # defined in a private or excluded module: documented where exported
                section.defined.append(name)
            elif name not in sections[home].defined:  # exported elsewhere, documented where it is defined
                sections[home].exports.setdefault(name, path)
                sections[home].summaries.setdefault(name, section.summaries[name])
                sections[home].defined.append(name)
    pages: dict[str, list[Section]] = {page: [] for page in PAGES}
    for module in modules:
        pages[page_of(module)].append(sections[module])
    return pages


def anchor(section: Section, name: str, sections: dict[str, Section]) -> str:
    """The anchor id mkdocstrings gives the documented object."""
    path = section.exports[name]
    home = path.rsplit(".", 1)[0]
    return path if home in sections else f"{section.module}.{name}"


def summary(trees: dict[str, griffe.Module], path: str) -> str:
    """First sentence of the object's docstring, made safe for a table cell."""
    home, name = path.rsplit(".", 1)
    obj = trees[home].members[name] if home in trees else None
    doc = (obj.docstring.value if obj is not None and obj.docstring else "").strip()
    doc = doc.split("\n\n")[0].replace("\n", " ")
    first = _SENTENCE_END.split(doc, maxsplit=1)[0].rstrip(".")
    return first.replace("|", "\\|") + ("." if first else "")


def render_section(section: Section, sections: dict[str, Section]) -> str:
    lines = [
        f"::: {section.module}",
        "    options:",
        "      heading_level: 2",
        "      show_root_full_path: true",
        "      members: false",
        "",
    ]
    reexported = [n for n in section.exports if n not in section.defined]
    if reexported:
        lines += ["| name | from | summary |", "|---|---|---|"]
        for name in reexported:
            path = section.exports[name]
            link = f"[`{name}`][{anchor(section, name, sections)}]"
            lines.append(f"| {link} | `{path.rsplit('.', 1)[0]}` | {section.summaries[name]} |")
        lines.append("")
    if section.values:
        lines += ["| constant | value |", "|---|---|"]
        lines += [f"| `{name}` | `{value}` |" for name, value in section.values.items()]
        lines.append("")
    for name in section.defined:
        lines += [f"::: {anchor(section, name, sections)}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def render_pages() -> dict[str, str]:
    pages = build_sections()
    sections = {s.module: s for page in pages.values() for s in page}
    out = {}
    for page, (title, intro, _) in PAGES.items():
        body = [f"# {title}", "", intro, ""]
        body += [render_section(s, sections) for s in pages[page] if s.exports or s.module in PAGES[page][2]]
        out[page] = "\n".join(body)
    return out


def on_files(files, config):
    for page, text in render_pages().items():
        files.append(File.generated(config, page, content=text))
    return files
