"""`python -m safekernel install`: put the `safe` kernelspec where Jupyter finds it, through
jupyter_client's KernelSpecManager (the same path `ipykernel install` takes)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

DEFAULT_NAME = "safe"
DEFAULT_DISPLAY_NAME = "Lua (sandboxed)"


def write_kernelspec(target: Path, display_name: str, options: list[str]) -> None:
    """Copy kernel.json and the logos into `target`, pointing argv at this interpreter."""
    source = resources.files("safekernel").joinpath("resources/kernelspec")
    for name in ("kernel.json", "logo-32x32.png", "logo-64x64.png"):
        (target / name).write_bytes(source.joinpath(name).read_bytes())
    spec = json.loads((target / "kernel.json").read_text())
    spec["argv"] = [sys.executable, "-m", "safekernel", "-f", "{connection_file}", *options]
    spec["display_name"] = display_name
    (target / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")


def install(
    user: bool = False,
    prefix: str | None = None,
    name: str = DEFAULT_NAME,
    display_name: str = DEFAULT_DISPLAY_NAME,
    options: list[str] | None = None,
) -> str:
    """Install the kernelspec; returns the directory it went to."""
    with tempfile.TemporaryDirectory() as tmp:
        write_kernelspec(Path(tmp), display_name, options or [])
        return str(
            KernelSpecManager().install_kernel_spec(
                tmp, kernel_name=name, user=user, prefix=prefix, replace=True
            )
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m safekernel install", description="Install the safekernel kernelspec."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="install into sys.prefix")
    where.add_argument("--prefix", help="install into PREFIX/share/jupyter/kernels")
    parser.add_argument("--name", default=DEFAULT_NAME, help="kernel name (default: safe)")
    parser.add_argument("--display-name", default=DEFAULT_DISPLAY_NAME, help="name shown in menus")
    parser.add_argument(
        "options", nargs="*", help="kernel options baked into the spec, e.g. --SafeKernel.timeout=5"
    )
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    try:
        path = install(args.user, prefix, args.name, args.display_name, args.options)
    except OSError as exc:
        print(f"could not install the kernelspec: {exc}. Try --user.", file=sys.stderr)
        return 1
    print(f"Installed kernelspec {args.name} in {path}")
    if shutil.which("jupyter") is None:
        print("note: `jupyter` is not on PATH; install jupyter_console or jupyterlab to use it")
    return 0
