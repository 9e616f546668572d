"""`webhooks:` in flipgen.yaml: the model, and positioned errors through the project loader."""

from __future__ import annotations

from pathlib import Path

from flipgen.project import open_project


def project(tmp_path: Path, yaml_text: str) -> Path:
    (tmp_path / "flipgen.yaml").write_text(yaml_text, encoding="utf-8")
    return tmp_path


def test_a_valid_block_loads(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "webhooks:\n"
        "  - url: https://hooks.example.com/flipgen\n"
        "    events: [application.submitted, account.connected]\n"
        "    secret_env: CRM_WEBHOOK_SECRET\n"
        "    sites: [acme-income]\n"
        "  - url: http://127.0.0.1:9000/hook\n"
        "    events: [all]\n"
        "    secret_env: LOCAL_SECRET\n"
        "    allow_private: true\n",
    )
    proj = open_project(root)
    assert proj.diagnostics == []
    crm, local = proj.config.webhooks
    assert crm.wants("application.submitted", "acme-income")
    assert not crm.wants("application.submitted", "other-site")
    assert not crm.wants("application.started", "acme-income")
    assert local.wants("data.revoked", "anything") and local.allow_private and not crm.allow_private


def test_every_mistake_is_reported_at_its_position(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "webhooks:\n"
        "  - url: ftp://hooks.example.com\n"
        "    events: [application.sumbitted]\n"
        "    secret_env: 1BAD\n"
        "  - url: https://hooks.example.com/x\n"
        "    event: [all]\n"
        "    secret_env: CRM\n",
    )
    found = {(d.line, d.col): d.message for d in open_project(root).diagnostics}
    assert "use an absolute https URL" in found[(2, 10)]
    assert "did you mean `application.submitted`" in found[(3, 14)]
    assert "NAME of an environment variable" in found[(4, 17)]
    assert "did you mean `events`" in found[(6, 5)]
    assert "missing required key `events` in this webhook" in found[(5, 5)]
    assert all(d.file.endswith("flipgen.yaml") for d in open_project(root).diagnostics)


def test_flipgen_check_names_a_webhook_site_that_no_site_file_has(tmp_path: Path) -> None:
    import shutil

    from flipgen.checks import check_project

    root = project(
        tmp_path,
        "webhooks:\n"
        "  - url: https://hooks.example.com/flipgen\n"
        "    events: [all]\n"
        "    secret_env: CRM_WEBHOOK_SECRET\n"
        "    sites: [acme-income, acme-incme]\n",
    )
    (root / "sites").mkdir()
    shutil.copy(Path(__file__).parents[2] / "sites" / "acme-income.yaml", root / "sites")
    found = [d for d in check_project(open_project(root)).diagnostics if d.code == "unknown-site"]
    assert [(d.file, d.line, d.col) for d in found] == [("flipgen.yaml", 5, 26)]
    assert "lists site `acme-incme`, which no site file has" in found[0].message
    assert "did you mean `acme-income`" in found[0].message


def test_the_server_refuses_to_start_without_a_usable_secret_and_never_prints_it(tmp_path: Path) -> None:
    import pytest

    from flipgen.errors import UserError
    from flipgen.server.webhooks import WebhookSettings

    root = project(
        tmp_path, "webhooks:\n  - url: https://hooks.example.com/x\n    events: [all]\n    secret_env: CRM_SECRET\n"
    )
    with pytest.raises(UserError, match="CRM_SECRET .* is not set"):
        WebhookSettings.load(root, {})
    with pytest.raises(UserError) as info:
        WebhookSettings.load(root, {"CRM_SECRET": "hunter2-not-a-whsec!"})
    assert "CRM_SECRET" in info.value.message and "hunter2" not in info.value.message
    settings = WebhookSettings.load(root, {"CRM_SECRET": "whsec_" + "A" * 43 + "=", "SMILE_WEBHOOK_SECRET": "a b"})
    assert settings.smile_secrets == ["a", "b"] and [t.url for t in settings.targets] == ["https://hooks.example.com/x"]
    assert WebhookSettings.load(root, {}, deliver=False).targets == []  # the preview: nothing to sign
