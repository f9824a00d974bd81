"""Where tunesmith keeps its own files (model cache, run registry).

Taken from the TUNESMITH_HOME environment variable so that tests and users can isolate it.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "TUNESMITH_HOME"


def tunesmith_home() -> Path:
    """The tunesmith user folder: $TUNESMITH_HOME, else ~/.cache/tunesmith."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "tunesmith"


def models_cache_dir() -> Path:
    """Where converted models (for example a dequantized GGUF) are cached."""
    return tunesmith_home() / "models"
