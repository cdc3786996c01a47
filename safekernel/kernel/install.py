"""`python -m safekernel install`: put the `safe` kernelspec where Jupyter finds it, through
jupyter_client's KernelSpecManager (the same path `ipykernel install` takes)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

DEFAULT_NAME = "safe"
DEFAULT_DISPLAY_NAME = "Lua (sandboxed)"
#: every user who may start the kernel must read its spec, whatever the installer's umask (a
#: root `--sys-prefix` install was 0700: copytree kept the mode of the TemporaryDirectory)
DIR_MODE = 0o755
FILE_MODE = 0o644


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
    """Install the kernelspec, readable by everyone; returns the directory it went to."""
    manager = KernelSpecManager()
    destination = Path(manager._get_destination_dir(name, user=user, prefix=prefix))
    # the directories this install creates get DIR_MODE too; existing ones are left alone
    created = [parent for parent in destination.parents if not parent.exists()]
    with tempfile.TemporaryDirectory() as tmp:
        write_kernelspec(Path(tmp), display_name, options or [])
        path = Path(manager.install_kernel_spec(tmp, kernel_name=name, user=user, prefix=prefix))
    make_readable(path, created)
    return str(path)


def make_readable(spec_dir: Path, created: list[Path]) -> None:
    """Dirs DIR_MODE, files FILE_MODE, set explicitly so neither the umask nor the temporary
    directory's 0700 decides who can see the kernel."""
    for parent in created:
        if parent.is_dir():
            os.chmod(parent, DIR_MODE)
    os.chmod(spec_dir, DIR_MODE)
    for entry in spec_dir.rglob("*"):
        os.chmod(entry, DIR_MODE if entry.is_dir() else FILE_MODE)


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
    except ValueError as exc:  # jupyter_client's word on a bad --name
        print(f"could not install the kernelspec: {exc}", file=sys.stderr)
        return 2
    print(f"Installed kernelspec {args.name} in {path}")
    if shutil.which("jupyter") is None:
        print("note: `jupyter` is not on PATH; install jupyter_console or jupyterlab to use it")
    return 0
