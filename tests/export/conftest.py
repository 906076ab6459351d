from __future__ import annotations

import pytest

from relayhunt.export import Rendered, build_spec, render
from relayhunt.export.model import ExportSpec


@pytest.fixture(scope="session")
def spec() -> ExportSpec:
    return build_spec()


@pytest.fixture(scope="session")
def rendered(spec: ExportSpec) -> Rendered:
    return render(["all"], spec)
