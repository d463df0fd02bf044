"""responsa: the OpenAI Responses API in front of any model."""

__version__ = "0.1.0"

__all__ = ["__version__"]
