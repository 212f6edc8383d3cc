"""A typed Python client generated from the public OpenAPI document with openapi-python-client (the
test extras), as an integrator would make one: `generate(document, folder)` writes the package
`recall_client` into `folder`; `GeneratedClient` imports it and its operations by module path.
tests/http/conftest.py makes it once per session (fixture `generated_client`)."""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "recall_client"


def generate(document: dict, folder: Path) -> Path:
    """Generates `recall_client` from `document` into `folder`; returns `folder`."""
    generator = str(Path(sys.executable).with_name("openapi-python-client"))
    if not Path(generator).exists():
        generator = shutil.which("openapi-python-client") or generator
    spec, config = folder / "openapi.json", folder / "config.json"
    spec.write_text(json.dumps(document))
    config.write_text(json.dumps({"project_name_override": PACKAGE, "package_name_override": PACKAGE,
                                  "post_hooks": []}))
    made = subprocess.run([generator, "generate", "--path", str(spec), "--meta", "none", "--config", str(config),
                           "--output-path", str(folder / PACKAGE)],
                          capture_output=True, text=True, timeout=300, cwd=folder)
    assert made.returncode == 0 and (folder / PACKAGE / "client.py").exists(), made.stdout + made.stderr
    return folder


class GeneratedClient:
    """The generated package, importable while open: `.package` (Client, AuthenticatedClient),
    `.models`, `.types` (UNSET), `op("events.list_events")` an operation module."""

    def __init__(self, folder: Path):
        self.folder = str(folder)
        sys.path.insert(0, self.folder)
        self.package = importlib.import_module(PACKAGE)
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.types = importlib.import_module(f"{PACKAGE}.types")

    def op(self, dotted: str):
        return importlib.import_module(f"{PACKAGE}.api.{dotted}")

    def close(self) -> None:
        sys.path.remove(self.folder)
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
