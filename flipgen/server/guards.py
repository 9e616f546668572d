"""What stands between a request and a paid mint, configured once per app: the proxies
believed, the endpoint's public origins, the rate limiter, the daily budget and the bot check.

:func:`build_guards` picks the backends: with ``redis_url`` the limiter and the budget are
shared through Redis (:mod:`.shared`); otherwise the limiter counts in process and the budget
in the application store (see ``budget_in_store``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flipgen.errors import UserError
from flipgen.manifest import Manifest

from .botcheck import Turnstile, turnstile_from_env
from .budget import Budget, MemoryBudget
from .clients import LOOPBACK, ProxyTrust
from .ratelimit import Limiter, MemoryLimiter

__all__ = ["Guards", "build_guards", "proxies_from"]


@dataclass
class Guards:
    proxies: ProxyTrust = field(default_factory=ProxyTrust)
    public_origins: tuple[str, ...] = ()
    limiter: Limiter | None = None
    budget: Budget = field(default_factory=MemoryBudget)
    turnstile: Turnstile | None = None
    body_timeout: float = 10.0
    # No Redis: the app counts the budget in its application store (set by create_app).
    budget_in_store: bool = False

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
        await self.budget.aclose()
        if self.turnstile is not None:
            await self.turnstile.aclose()


def proxies_from(trust_proxy: bool | str | Iterable[str]) -> list[str]:
    """``True`` (the old flag) means a proxy on this host; text is comma-separated CIDRs."""
    if trust_proxy is True:
        return list(LOOPBACK)
    if not trust_proxy:
        return []
    items = [trust_proxy] if isinstance(trust_proxy, str) else list(trust_proxy)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def build_guards(
    manifest: Manifest,
    project: Path,
    *,
    rate_limit: int,
    trust_proxy: bool | str | Sequence[str] = False,
    proxy_hops: int = 1,
    public_origins: Sequence[str] = (),
    redis_url: str | None = None,
    redis_fail_open: bool = True,
    redis_prefix: str = "flipgen:",
    verify_bots: bool = True,
    body_timeout: float = 10.0,
    environ: Mapping[str, str] | None = None,
) -> Guards:
    """The guards of one app; :class:`UserError` for settings that cannot work."""
    env = os.environ if environ is None else environ
    guards = Guards(
        proxies=ProxyTrust(proxies_from(trust_proxy), proxy_hops),
        public_origins=tuple(public_origins),
        body_timeout=body_timeout,
    )
    redis_url = redis_url or env.get("FLIPGEN_REDIS_URL") or None
    if redis_url:
        from .shared import RedisBudget, RedisLimiter, connect  # only with Redis configured

        client = connect(redis_url)
        if rate_limit > 0:
            guards.limiter = RedisLimiter(client, rate_limit, prefix=redis_prefix, fail_open=redis_fail_open)
        guards.budget = RedisBudget(connect(redis_url), prefix=redis_prefix, fail_open=redis_fail_open)
    else:
        guards.limiter = MemoryLimiter(rate_limit) if rate_limit > 0 else None
        guards.budget_in_store = True
    protected = sorted(slug for slug, site in manifest.sites.items() if site.bot_protection is not None)
    if protected and verify_bots:
        guards.turnstile = turnstile_from_env(project, env)
        if guards.turnstile is None:
            raise UserError(
                f"Site(s) {', '.join(protected)} have `bot_protection`, but TURNSTILE_SECRET is not set: "
                f"set it (in the environment or in {project / '.env'}) to the secret of the Turnstile widget."
            )
    return guards
