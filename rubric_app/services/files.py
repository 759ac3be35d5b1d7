"""Generated files under reports/: written once per content, never half-written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_once(path: Path, build: Callable[[BinaryIO], None]) -> Path:
    """Return ``path``, drawing it with ``build`` first when it does not exist yet.

    The file is written to a temporary name in the same folder and moved into place, so a
    reader never sees a partial file and a failed build leaves nothing behind.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            build(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
