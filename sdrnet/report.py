"""Plain-text tables for the command line, the demo and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def format_table(
    rows: Sequence[Mapping[str, object]], title: str | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """Align a list of dicts (same keys) as a Markdown table; floats get 4 significant digits. ``labels``: the
    column header of a key (default: the key), so that machine-readable rows print with readable headers."""
    if not rows:
        return f"{title}\n(no rows)" if title else "(no rows)"
    keys = list(rows[0])
    headers = [(labels or {}).get(k, k) for k in keys]
    cells = [[_fmt(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(([title] if title else []) + lines)


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    return str(x)


def save_figure(fig, path, format: str | None = None) -> Path:
    """Lay out, save (110 dpi) and close a matplotlib figure; returns the file written.

    ``format`` (``"png"``, ``"pdf"`` or ``"svg"``) replaces the suffix of ``path``; None keeps it.
    """
    import matplotlib.pyplot as plt

    from sdrnet.experiment import FORMATS

    path = Path(path)
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        path = path.with_suffix(f".{format}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def legend_outside(ax, **kwargs):
    """The legend of ``ax`` to its right, outside the plotting area, so that it never covers data."""
    kwargs.setdefault("fontsize", 7)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def run_timed(out, experiment, *args) -> tuple[Path, dict]:
    """Create the output folder ``out``, run ``experiment(*args)`` and record its wall time as ``seconds``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = experiment(*args)
    results["seconds"] = time.perf_counter() - start
    return out, results
