"""Durable state behind one protocol: SQLite embedded by default, PostgreSQL for many replicas."""
