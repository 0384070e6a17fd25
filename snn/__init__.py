"""Spiking networks with learnable synaptic delays and delta activation layers (filled by later issues)."""
