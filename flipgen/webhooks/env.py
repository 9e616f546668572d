"""The variables webhooks read: the project's ``.env`` under the process environment.

``SMILE_WEBHOOK_SECRET`` verifies Smile's events; it may hold several secrets separated by
spaces (one per Smile subscription, or the old and new one while rotating). Each outbound
target's ``secret_env`` names the variable that holds its ``whsec_…`` secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import UserError
from ..schema import WebhookTarget
from .signing import whsec_key

__all__ = ["SMILE_SECRET_ENV", "project_env", "smile_secrets", "check_target_secrets"]

SMILE_SECRET_ENV = "SMILE_WEBHOOK_SECRET"


def project_env(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``<root>/.env`` overlaid with the environment (the environment wins, variable by variable)."""
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    path = root / ".env"
    if path.is_file():
        values.update({k: v for k, v in dotenv_values(path).items() if v})
    values.update({k: v for k, v in (os.environ if environ is None else environ).items() if v})
    return values


def smile_secrets(env: Mapping[str, str]) -> list[str]:
    return (env.get(SMILE_SECRET_ENV) or "").split()


def check_target_secrets(targets: Sequence[WebhookTarget], env: Mapping[str, str]) -> None:
    """Refuse to start with a target whose secret is missing or unusable (naming the variable, never its value)."""
    problems = []
    for target in targets:
        value = env.get(target.secret_env)
        if not value:
            problems.append(f"{target.secret_env} (for {target.url}) is not set")
            continue
        try:
            whsec_key(value)
        except ValueError as exc:
            problems.append(f"{target.secret_env} (for {target.url}): {exc}")
    if problems:
        raise UserError(
            "webhooks in flipgen.yaml cannot be signed: "
            + "; ".join(problems)
            + ". Create a secret with `flipgen webhooks secret` and put it in .env or the environment."
        )
