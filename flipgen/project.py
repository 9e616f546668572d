"""Finding a project: its root, `flipgen.yaml`, and the list of site files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Diagnostic, UserError
from .loader import Positions, load_config
from .schema import LANG, Config

__all__ = ["Project", "open_project", "builtin_templates"]

CONFIG_NAME = "flipgen.yaml"
# `<stem>.<lang>.yaml` beside `<stem>.yaml` is a translation of that site, not a site.
OVERLAY_NAME = re.compile(r"^(?P<stem>[^.]+)\.(?P<lang>" + LANG[1:-1] + r")\.ya?ml$")


def builtin_templates() -> Path:
    """The built-in themes: inside the installed package, or the repository's top level."""
    packaged = Path(__file__).parent / "site_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "site_templates"


@dataclass
class Project:
    root: Path
    config: Config
    config_positions: Positions
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _overlay_index: tuple[int, dict[str, dict[str, Path]]] | None = field(default=None, repr=False, compare=False)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def sites_dir(self) -> Path:
        return (self.root / self.config.sites_dir).resolve()

    @property
    def output_dir(self) -> Path:
        return (self.root / self.config.output).resolve()

    def _yaml_files(self) -> list[Path]:
        if not self.sites_dir.is_dir():
            return []
        return sorted(
            p
            for p in self.sites_dir.iterdir()
            if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith(".")
        )

    def site_files(self) -> list[Path]:
        """Every `*.yaml`/`*.yml` directly in the sites folder that is not an overlay, sorted."""
        files = self._yaml_files()
        stems = {p.stem for p in files}
        return [p for p in files if not ((m := OVERLAY_NAME.match(p.name)) and m["stem"] in stems)]

    def _overlays(self) -> dict[str, dict[str, Path]]:
        # Listed once per change of the folder (its mtime moves when a file is added, removed
        # or renamed), not once per site: a thousand sites would list it a thousand times.
        try:
            stamp = self.sites_dir.stat().st_mtime_ns
        except OSError:
            return {}
        if self._overlay_index is None or self._overlay_index[0] != stamp:
            index: dict[str, dict[str, Path]] = {}
            for p in self._yaml_files():
                m = OVERLAY_NAME.match(p.name)
                if m:
                    index.setdefault(m["stem"], {}).setdefault(m["lang"], p)
            self._overlay_index = (stamp, index)
        return self._overlay_index[1]

    def overlay_files(self, site_file: Path) -> dict[str, Path]:
        """The translation overlays of one site file: language tag → path."""
        return dict(self._overlays().get(site_file.stem, {}))

    def site_of(self, path: Path) -> Path | None:
        """The site file an overlay translates (None when ``path`` is not an overlay)."""
        m = OVERLAY_NAME.match(path.name)
        if m is None or path.parent.resolve() != self.sites_dir:
            return None
        for ext in (".yaml", ".yml"):
            base = path.with_name(m["stem"] + ext)
            if base.is_file():
                return base
        return None

    def theme_dirs(self, theme: str) -> list[Path]:
        """Template folders in lookup order: the project's override, then the built-in theme."""
        dirs = [self.root / "site_templates" / theme]
        builtin = builtin_templates() / theme
        if builtin.resolve() != dirs[0].resolve():
            dirs.append(builtin)
        return [d for d in dirs if d.is_dir()]


def open_project(root: str | os.PathLike[str] | None = None) -> Project:
    """Open the project at ``root`` (default: the working directory)."""
    path = Path(root) if root is not None else Path.cwd()
    if not path.exists():
        raise UserError(f"no such folder: {path}")
    if path.is_file():
        if path.name == CONFIG_NAME:
            path = path.parent
        else:
            raise UserError(f"{path} is a file; give the project folder (the one holding `sites/`)")
    path = path.resolve()
    config, positions, diagnostics = load_config(path / CONFIG_NAME)
    return Project(root=path, config=config, config_positions=positions, diagnostics=diagnostics)
