"""Prompt injection and jailbreak detection: rules plus a small classifier trained offline."""

from podium.guardrails.injection.detector import InjectionModel, InjectionScanner, load_model

__all__ = ["InjectionModel", "InjectionScanner", "load_model"]
