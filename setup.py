"""Build hooks (metadata lives in setup.cfg).

A built package (``pip install .``, a wheel) carries everything it needs to run from any folder:

* the instrument definitions, letter templates and their schemas (``rubric_defs/``) are copied
  into the package as ``rubric_app/defs/``; a source checkout keeps reading ``rubric_defs/``
  directly, and ``RUBRIC_DEFS`` points elsewhere when set;
* the interface catalogs are compiled (``.po`` -> ``.mo``) at build time, so an installed app
  never writes into its own package folder (which may be read-only).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithDefinitions(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads rubric_defs/ and compiles catalogs in place
        package = Path(self.build_lib) / "rubric_app"
        target = package / "defs"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / "rubric_defs", target, ignore=shutil.ignore_patterns("*.pyc", "__pycache__", ".*"))
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_path in sorted((package / "translations").glob("*/LC_MESSAGES/messages.po")):
            with open(po_path, "rb") as fh:
                catalog = read_po(fh, locale=po_path.parts[-3])
            with open(po_path.with_suffix(".mo"), "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildWithDefinitions})
