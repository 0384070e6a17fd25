"""Dendritic pattern recognition and active-dendrite networks (filled by later issues)."""
