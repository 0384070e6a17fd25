"""Copy the figures that `sdrnet demo --out DIR` wrote into docs/assets/gallery, small: at most 1400 px wide,
256-colour palette PNGs (the plots are line art; a figure stays under ~150 kB).

Run:  python docs/scripts/gallery.py DIR   (`make gallery` runs the demo into build/gallery, then this)
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

# the figures the gallery page shows, in the order of `sdrnet demo`
FIGURES = (
    "core_quickstart.png",
    "sdr_encoders.png",
    "dendrites_effect_of_n.png",
    "dendrites_effect_of_s.png",
    "dendrites_noise.png",
    "dendrites_unions.png",
    "dendrites_optimal_threshold.png",
    "sparsey.png",
    "active_dendrites_permuted_digits.png",
    "snn_delays.png",
    "delta_video.png",
    "prune_accuracy_vs_sparsity.png",
)
MAX_WIDTH = 1400
GALLERY = Path(__file__).resolve().parents[1] / "assets" / "gallery"


def shrink(source: Path, target: Path) -> None:
    image = Image.open(source).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def main(demo_dir: Path) -> None:
    missing = [name for name in FIGURES if not (demo_dir / name).is_file()]
    if missing:
        raise SystemExit(f"{demo_dir} lacks {', '.join(missing)}: run `sdrnet demo --out {demo_dir}` first")
    GALLERY.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        shrink(demo_dir / name, GALLERY / name)
        print(f"{GALLERY / name}: {(GALLERY / name).stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
