"""Fixtures: the repository and one real ``ember serve`` subprocess for the package."""

from pathlib import Path

import pytest
from serve_helpers import API_KEY, Server, build_repository


@pytest.fixture(scope="package")
def repository(tmp_path_factory) -> Path:
    return build_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="package")
def server(repository, tmp_path_factory):
    s = Server(repository, tmp_path_factory.mktemp("log") / "serve.log", "--api-key", API_KEY)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()
