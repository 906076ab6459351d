"""Rules as code: one description of each detection (``model.py``), rendered to Sigma, EQL,
KQL, LogScale, YARA-L 2.0, Sumo Logic and SPL. See docs/exports.md."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from relayhunt.export import eql, kql, logscale, sigma, spl, sumo, yaral
from relayhunt.export.common import TARGETS, ExportFile, Omission, Rendered
from relayhunt.export.model import BeaconSpec, ExportError, ExportSpec, build_spec

RENDERERS: dict[str, Callable[[ExportSpec], Rendered]] = {
    "sigma": sigma.render,
    "eql": eql.render,
    "kql": kql.render,
    "logscale": logscale.render,
    "yaral": yaral.render,
    "sumo": sumo.render,
    "spl": spl.render,
}


def render(targets: Iterable[str], spec: ExportSpec | None = None) -> Rendered:
    """Render the named targets (``all`` for every one) from one spec."""
    names = list(targets)
    if "all" in names:
        names = list(TARGETS)
    unknown = [n for n in names if n not in RENDERERS]
    if unknown:
        raise ExportError(f"unknown target(s): {', '.join(unknown)}")
    the_spec = spec or build_spec()
    files: list[ExportFile] = []
    omitted: list[Omission] = []
    for name in dict.fromkeys(names):
        out = RENDERERS[name](the_spec)
        files.extend(out.files)
        omitted.extend(out.omitted)
    return Rendered(tuple(files), tuple(omitted))


def write(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Write every file under ``out_dir`` (created), returning the paths written."""
    written: list[Path] = []
    root = out_dir.resolve()
    for f in rendered.files:
        path = (root / f.path).resolve()
        if root not in path.parents:
            raise ExportError(f"refusing to write outside {root}: {f.path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


__all__ = [
    "RENDERERS",
    "TARGETS",
    "BeaconSpec",
    "ExportError",
    "ExportFile",
    "ExportSpec",
    "Omission",
    "Rendered",
    "build_spec",
    "render",
    "write",
]
