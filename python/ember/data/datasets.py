"""Data sets bundled with ember (no network needed)."""

from __future__ import annotations

from pathlib import Path

_FILES = Path(__file__).parent / "files"


def load_tinyshakespeare() -> str:
    """Return the tinyshakespeare text (about 1.1 MB of public-domain Shakespeare)."""
    return (_FILES / "tinyshakespeare.txt").read_text(encoding="utf-8")
