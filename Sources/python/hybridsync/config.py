"""Where the installed C ABI is, for C and C++ programs (as `python3 -m pybind11 --includes` does):

    cc prog.c $(python3 -m hybridsync.config --include) $(python3 -m hybridsync.config --libs)
"""

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def include_dir():
    """The folder holding hybridsync.h."""
    return str(HERE / "include")


def lib_dir():
    """The folder holding libhybridsync.so."""
    return str(HERE / "lib")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m hybridsync.config", description=__doc__.splitlines()[0])
    parser.add_argument("--include", action="store_true", help="the compiler flag for the header's folder")
    parser.add_argument("--libs", action="store_true", help="the linker flags for libhybridsync.so (with its rpath)")
    args = parser.parse_args(argv)
    out = []
    if args.include:
        out.append(f"-I{include_dir()}")
    if args.libs:
        out.append(f"-L{lib_dir()} -lhybridsync -Wl,-rpath,{lib_dir()}")
    if not out:
        parser.print_help()
        return 1
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
