"""The example scripts, also the parts of ``sdrnet demo``.

In a source checkout they run as scripts (``python examples/core_quickstart.py``). setup.cfg ships this
folder inside the wheel as the package ``sdrnet.examples`` (``package_dir``), so that ``sdrnet demo`` finds
them after ``pip install sdrnet``. ``sdrnet demo`` runs each script with ``runpy``: sdrnet never imports
them, and they may import ``snn`` and ``dendrites``.
"""
