"""RPM, TPM, concurrency and money budgets per key, team, tenant and deployment (docs/limits.md)."""

from podium.limits.limiter import DeploymentLimited, Limiter, LimitExceeded, Ticket
from podium.limits.step import limit_requests

__all__ = ["DeploymentLimited", "LimitExceeded", "Limiter", "Ticket", "limit_requests"]
