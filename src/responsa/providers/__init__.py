"""Upstream adapters: one module per dialect, selected through the registry."""
