"""A sample event with the real shape, for `flipgen webhooks test URL`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..project import Project
from ..schema import FieldSpec, FormScreen, Site
from ..store.applications import Application
from .events import new_event, render_body

__all__ = ["sample_body", "sample_answer"]

_TEXT = {
    "text": "Sample text",
    "email": "applicant@example.com",
    "tel": "+63 912 345 6789",
    "textarea": "First line\nSecond line",
    "date": "2026-01-31",
    "hidden": "sample",
}


def sample_answer(spec: FieldSpec) -> Any:
    """A plausible value of the field's type (the first option for choices)."""
    options = [o.value for o in spec.options or []]
    if spec.type in ("select", "radio"):
        return options[0] if options else "option"
    if spec.type == "checkboxes":
        return options[:1]
    if spec.type in ("checkbox", "consent"):
        return True
    if spec.type == "number":
        return spec.min if isinstance(spec.min, int | float) else 42
    return _TEXT.get(spec.type, "sample")


def _sites(project: Project) -> list[Site]:
    from ..checks import run_sites

    outcomes, _ = run_sites(project, keep_loaded=True)
    return [o.loaded.site for o in outcomes if o.loaded is not None and o.loaded.site is not None]


def sample_body(project: Project, event_type: str, site_slug: str | None = None) -> tuple[bytes, str | None]:
    """The JSON body of a sample ``event_type`` from the project's first site (or ``site_slug``)."""
    sites = _sites(project)
    site = next((s for s in sites if site_slug in (None, s.slug)), None)
    answers: dict[str, Any] = {}
    labels: dict[str, str] = {}
    if site is not None:
        for screen in site.screens:
            if isinstance(screen, FormScreen):
                for spec in screen.fields:
                    answers[spec.id] = sample_answer(spec)
                    labels[spec.id] = spec.label or spec.id
    now = datetime.now(UTC).replace(microsecond=0)
    status = {"application.started": "started", "application.submitted": "submitted"}.get(event_type, "completed")
    app = Application(
        id="app_sample_" + now.strftime("%Y%m%d%H%M%S"),
        site=site.slug if site is not None and site.slug else (site_slug or "sample"),
        status=status,
        answers=answers if status != "started" else {},
        params={p.name: "sample" for p in site.params} if site is not None else {},
        locale=site.lang if site is not None else "en",
        smile_user_id="tenant-sample",
        accounts=1 if event_type.startswith("account.") else 0,
        uploads=0,
        created_at=now - timedelta(minutes=5),
        updated_at=now,
        submitted_at=now if status != "started" else None,
        completed_at=now if status == "completed" else None,
    )
    extra: dict[str, Any] = {}
    if event_type.startswith("account."):
        extra["account"] = {"id": "a-sample", "providers": ["sss_ph"]}
        if event_type == "account.failed":
            extra["account"]["error_code"] = "INVALID_CREDENTIALS"
    elif event_type == "data.revoked":
        extra["revoked"] = {"kind": "account", "id": "a-sample", "providers": ["sss_ph"]}
    return render_body(new_event(event_type, app, extra, now), labels), (site.slug if site is not None else None)
