"""Sparsey associative memory (Rinkus 2010, 2014): macrocolumns, the code selection algorithm, single-trial learning.

Every random draw goes through a ``numpy.random.Generator`` the caller passes: same seed, same codes.
"""

from .csa import CSAParams
from .macrocolumn import BinaryProjection, Code, Level, Macrocolumn

__all__ = ["CSAParams", "Code", "BinaryProjection", "Level", "Macrocolumn"]
