"""Find or train the Rasa model that matches the current training inputs.

The model file is named after a fingerprint of ``config.yml``, ``domain.yml``,
everything under ``data/`` and the Rasa version, so "is there a model for these
inputs?" is a file lookup, and training runs only when an input changed.

Run ``python -m introcoach.model`` to print the model path, training first when
needed.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from introcoach.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

MODEL_PREFIX = "introcoach-"
KEEP_MODELS = 3


def training_inputs(root: Path = PROJECT_ROOT) -> List[Path]:
    """The files whose content determines the trained model, in a stable order."""
    files = [root / "config.yml", root / "domain.yml"]
    files += sorted(p for p in (root / "data").rglob("*") if p.is_file())
    return files


def fingerprint(
    root: Path = PROJECT_ROOT, files: Optional[Iterable[Path]] = None
) -> str:
    """A short hash of the training inputs and the Rasa version."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(f"rasa=={version('rasa')}\n".encode())
    for path in files if files is not None else training_inputs(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(root: Path = PROJECT_ROOT) -> Path:
    """Where the model for the current inputs is (or will be) stored."""
    return root / "models" / f"{MODEL_PREFIX}{fingerprint(root)}.tar.gz"


def ensure_model(root: Path = PROJECT_ROOT, force: bool = False) -> Path:
    """Train the model unless one already matches the current inputs.

    Args:
        root: The project folder.
        force: Train even when a matching model exists.

    Returns:
        The path of the matching model.
    """
    target = model_path(root)
    if target.exists() and not force:
        logger.info("model is up to date: %s", target.relative_to(root))
        return target
    name = target.name[: -len(".tar.gz")]
    rasa = Path(sys.executable).with_name("rasa")
    command = [
        str(rasa),
        "train",
        "--fixed-model-name",
        name,
        "--out",
        str(root / "models"),
        "--config",
        str(root / "config.yml"),
        "--domain",
        str(root / "domain.yml"),
        "--data",
        str(root / "data"),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    print(
        f"Training the Rasa model ({name}); this takes a few minutes on 2 cores...",
        flush=True,
    )
    started = time.monotonic()
    subprocess.run(command, cwd=root, env=env, check=True)
    print(
        f"Trained in {time.monotonic() - started:.0f} s: {target.relative_to(root)}",
        flush=True,
    )
    _prune(root / "models", keep=target)
    return target


def _prune(folder: Path, keep: Path) -> None:
    """Delete all but the newest few project models."""
    models = sorted(
        folder.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime
    )
    for old in models[:-KEEP_MODELS]:
        if old != keep:
            old.unlink()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the model path, training first when needed."""
    parser = argparse.ArgumentParser(description="Find or train the Rasa model.")
    parser.add_argument("--force", action="store_true", help="train even if up to date")
    parser.add_argument(
        "--check", action="store_true", help="only say whether it is up to date"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.check:
        target = model_path()
        print(target if target.exists() else "")
        return 0 if target.exists() else 1
    try:
        print(ensure_model(force=args.force))
    except subprocess.CalledProcessError as exc:
        print(
            f"rasa train failed (exit {exc.returncode}); see the messages above.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
