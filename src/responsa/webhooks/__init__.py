"""Webhooks: signed notices of finished background responses (see notifier.py)."""

from responsa.webhooks.notifier import WebhookNotifier

__all__ = ["WebhookNotifier"]
