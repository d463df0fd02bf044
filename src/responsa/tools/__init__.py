"""Hosted tools: what the server runs on the model's behalf (see tools/base.py)."""
