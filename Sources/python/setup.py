"""Installs the `hybridsync` Python package: builds HybridSync's C ABI with SwiftPM (release mode) from
the repository this folder is in, and places the library and its header inside the package."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


class BuildWithSwift(build_py):
    """build_py, plus `swift build --product HybridSyncC` and a copy of its library and header.

    HYBRIDSYNC_SWIFT_BUILD_FLAGS replaces the build flags (default `-c release`); Launch/test passes
    its own, so the install reuses the suite's build instead of making another.
    """

    def run(self):
        super().run()
        flags = shlex.split(os.environ.get("HYBRIDSYNC_SWIFT_BUILD_FLAGS", "-c release"))
        subprocess.check_call(["swift", "build", *flags, "--product", "HybridSyncC"], cwd=ROOT)
        bin_path = subprocess.check_output(["swift", "build", *flags, "--show-bin-path"], cwd=ROOT, text=True).strip()
        package = Path(self.build_lib) / "hybridsync"
        (package / "lib").mkdir(parents=True, exist_ok=True)
        (package / "include").mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(bin_path) / "libHybridSyncC.so", package / "lib" / "libhybridsync.so")
        shutil.copy2(ROOT / "Sources" / "CHybridSync" / "include" / "hybridsync.h", package / "include" / "hybridsync.h")


setup(
    name="hybridsync",
    version="0.1.0",
    description="Hybrid parameter-server + ring all-reduce gradient sync for sparse + dense models",
    packages=["hybridsync", "hybridsync.torch", "hybridsync.examples"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"torch": ["torch>=2.1"]},
    cmdclass={"build_py": BuildWithSwift},
    zip_safe=False,
)
