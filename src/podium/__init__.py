"""Podium: a self-hosted LLM orchestration layer behind one OpenAI-compatible endpoint."""

__version__ = "0.1.0"

__all__ = ["__version__"]
