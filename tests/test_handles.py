"""Application handles (flipgen.handles) and the FLIPGEN_SECRET_KEY that signs them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from dotenv import dotenv_values

from flipgen.cli import main
from flipgen.errors import UserError
from flipgen.handles import ENV_VAR, HandleSigner, load_secret_key

KEY = "k" * 40


def test_round_trip_and_site_binding() -> None:
    signer = HandleSigner(KEY)
    handle = signer.sign("app-123_x", "acme-income")
    assert signer.verify(handle, "acme-income") == "app-123_x"
    assert signer.verify(handle, "harbor") is None, "a handle is worth nothing on another site"
    assert HandleSigner("z" * 40).verify(handle, "acme-income") is None, "another key: forged"
    assert "app-123_x" not in handle or handle.count(".") == 1
    assert all(c.isalnum() or c in "-_." for c in handle), "URL-safe"


def test_handles_differ_per_application_and_site() -> None:
    signer = HandleSigner(KEY)
    handles = {signer.sign(a, s) for a in ("a", "b") for s in ("one", "two")}
    assert len(handles) == 4
    # No site/id confusion through the separator.
    assert signer.verify(signer.sign("b", "a"), "a\x00b") is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h[:-1] + ("A" if h[-1] != "A" else "B"),
        lambda h: "X" + h,
        lambda h: h.replace(".", ""),
        lambda h: h + ".x",
        lambda h: h.split(".")[0] + ".",
        lambda h: "." + h.split(".")[1],
        lambda h: h.split(".")[0] + "." + "A" * 43,
        lambda h: h.split(".")[0] + ".!!!!",
        lambda h: h + "=",
        lambda h: "é" + h,
        lambda h: h + "A" * 300,
        lambda h: "",
    ],
)
def test_forged_or_mangled_handles_are_refused(mangle: object) -> None:
    signer = HandleSigner(KEY)
    handle = signer.sign("app-1", "acme")
    assert signer.verify(mangle(handle), "acme") is None  # type: ignore[operator]


def test_only_the_canonical_spelling_verifies() -> None:
    signer = HandleSigner(KEY)
    handle = signer.sign("app-1", "acme")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # Every other last character, including those that decode to the same bytes.
    for c in alphabet.replace(handle[-1], ""):
        assert signer.verify(handle[:-1] + c, "acme") is None


def test_the_id_cannot_be_swapped_under_a_valid_mac() -> None:
    signer = HandleSigner(KEY)
    mac = signer.sign("app-1", "acme").split(".")[1]
    other_id = signer.sign("app-2", "acme").split(".")[0]
    assert signer.verify(f"{other_id}.{mac}", "acme") is None


def test_repr_never_shows_the_key() -> None:
    signer = HandleSigner(KEY)
    assert KEY not in repr(signer) and "kkkk" not in str(signer)


def test_production_requires_the_key(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        load_secret_key(tmp_path, {}, required=True)
    assert ENV_VAR in str(err.value) and "flipgen init" in str(err.value)


def test_preview_gets_an_ephemeral_key(tmp_path: Path) -> None:
    one, two = load_secret_key(tmp_path, {}, required=False), load_secret_key(tmp_path, {}, required=False)
    assert one.ephemeral and two.ephemeral
    assert one.verify(two.sign("a", "s"), "s") is None, "each start its own key"


def test_key_from_environment_or_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"{ENV_VAR}={'d' * 40}\n")
    from_file = load_secret_key(tmp_path, {}, required=True)
    assert not from_file.ephemeral
    assert HandleSigner("d" * 40).verify(from_file.sign("a", "s"), "s") == "a"
    from_env = load_secret_key(tmp_path, {ENV_VAR: KEY}, required=True)
    assert HandleSigner(KEY).verify(from_env.sign("a", "s"), "s") == "a", "the environment wins"


def test_short_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        load_secret_key(tmp_path, {ENV_VAR: "hunter2-secret"}, required=False)
    assert "hunter2" not in str(err.value) and "too short" in str(err.value)


def test_init_writes_a_private_random_key_and_never_prints_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "p"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    dotenv = tmp_path / "p" / ".env"
    key = dotenv_values(dotenv)[ENV_VAR]
    assert key and len(key) >= 40
    assert key not in result.output
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert ".env" in (tmp_path / "p" / ".gitignore").read_text().split()
    load_secret_key(tmp_path / "p", {}, required=True)  # production accepts what init wrote
    again = CliRunner().invoke(main, ["init", "p"], catch_exceptions=False)
    assert dotenv_values(dotenv)[ENV_VAR] == key, "a second init keeps the key"
    assert key not in again.output
    other = CliRunner().invoke(main, ["init", "q"], catch_exceptions=False)
    assert other.exit_code == 0
    assert dotenv_values(tmp_path / "q" / ".env")[ENV_VAR] != key


def test_init_adds_the_key_to_an_existing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / ".env").write_text("SMILE_API_KEY=abc")
    CliRunner().invoke(main, ["init", "p"], catch_exceptions=False)
    values = dotenv_values(tmp_path / "p" / ".env")
    assert values["SMILE_API_KEY"] == "abc"
    assert len(values[ENV_VAR] or "") >= 40
