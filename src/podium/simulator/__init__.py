"""The simulated provider: a model whose behaviour is chosen by its name, in process or over HTTP.

``SimulatedChatModel("sim/echo?ttft_ms=20")`` implements the provider seam directly;
``podium simulate`` (:func:`serve`, :func:`create_app`) answers the same behaviour over the OpenAI
wire protocol and records what it received; :func:`running_simulator` starts it inside a test.
See docs/simulator.md for the modes and fault knobs.
"""

from __future__ import annotations

from podium.simulator.behaviour import SimulatedError, Simulation
from podium.simulator.embedding import embed_text
from podium.simulator.model import SimulatedChatModel, SimulatedEmbeddingModel
from podium.simulator.recording import RequestLog, RequestRecord
from podium.simulator.schema_instance import instance_for
from podium.simulator.server import create_app, serve
from podium.simulator.spec import MODES, OPTIONS, Mode, SimSpec, parse_spec
from podium.simulator.testing import running_simulator
from podium.simulator.tokens import count_tokens

__all__ = [
    "MODES",
    "OPTIONS",
    "Mode",
    "RequestLog",
    "RequestRecord",
    "SimSpec",
    "SimulatedChatModel",
    "SimulatedEmbeddingModel",
    "SimulatedError",
    "Simulation",
    "count_tokens",
    "create_app",
    "embed_text",
    "instance_for",
    "parse_spec",
    "running_simulator",
    "serve",
]
