"""`python -m safekernel install [--runtime NAME]`: put a runtime's kernelspec (`safe` for Lua)
where Jupyter finds it, through jupyter_client's KernelSpecManager (the same path `ipykernel
install` takes). Its name, menu name and language come from the runtime's registry entry."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from safekernel.errors import ConfigError
from safekernel.kernel.provisioner import PROVISIONER_NAME
from safekernel.runtimes import registry

#: every user who may start the kernel must read its spec, whatever the installer's umask (a
#: root `--sys-prefix` install was 0700: copytree kept the mode of the TemporaryDirectory)
DIR_MODE = 0o755
FILE_MODE = 0o644


def write_kernelspec(
    target: Path,
    display_name: str,
    options: list[str],
    entry: registry.RuntimeEntry,
    *,
    prestart: bool = False,
) -> None:
    """Copy kernel.json and the logos into `target`, pointing argv at this interpreter."""
    source = resources.files("safekernel").joinpath("resources/kernelspec")
    for name in ("kernel.json", "logo-32x32.png", "logo-64x64.png"):
        (target / name).write_bytes(source.joinpath(name).read_bytes())
    spec = json.loads((target / "kernel.json").read_text())
    if entry.name != registry.DEFAULT_RUNTIME:
        options = [f"--SafeKernel.runtime={entry.name}", *options]
    spec["argv"] = [sys.executable, "-m", "safekernel", "-f", "{connection_file}", *options]
    spec["display_name"] = display_name
    spec["language"] = entry.language
    if prestart:
        # kernel/provisioner.py: one prestarted kernel process ready for a restart or new kernel
        metadata = spec.setdefault("metadata", {})
        metadata["kernel_provisioner"] = {"provisioner_name": PROVISIONER_NAME, "config": {}}
    (target / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")


def install(
    user: bool = False,
    prefix: str | None = None,
    name: str | None = None,
    display_name: str | None = None,
    options: list[str] | None = None,
    *,
    runtime: str = registry.DEFAULT_RUNTIME,
    prestart: bool = False,
) -> str:
    """Install the kernelspec, readable by everyone; returns the directory it went to."""
    entry = registry.get(runtime)
    kernel_name = name or entry.kernelspec_name
    manager = KernelSpecManager()
    destination = Path(manager._get_destination_dir(kernel_name, user=user, prefix=prefix))
    # the directories this install creates get DIR_MODE too; existing ones are left alone
    created = [parent for parent in destination.parents if not parent.exists()]
    with tempfile.TemporaryDirectory() as tmp:
        write_kernelspec(
            Path(tmp), display_name or entry.display_name, options or [], entry, prestart=prestart
        )
        path = Path(
            manager.install_kernel_spec(tmp, kernel_name=kernel_name, user=user, prefix=prefix)
        )
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


def prepare(entry: registry.RuntimeEntry) -> bool:
    """Run the runtime's prewarm hook once now (e.g. compile a WebAssembly guest into the
    per-machine cache), so a kernel's first start does not pay for it. In a subprocess: the
    kernel side never imports a runtime. A failure is reported, not fatal: the zygote tries
    again at the kernel's start."""
    if entry.prewarm_hook is None:
        return True
    print(f"Preparing the {entry.name} runtime (once per machine)...")
    # a missing guest or a bad pin is a ConfigError: its message, not a traceback
    code = (
        "import sys\nfrom safekernel.errors import ConfigError\n"
        "from safekernel.runtimes import registry\n"
        f"try:\n    registry.get({entry.name!r}).prewarm()\n"
        "except ConfigError as exc:\n    sys.exit(f'safekernel: {exc}')\n"
    )
    # its stderr (the compile's progress, or why it failed) goes to the user's terminal
    done = subprocess.run([sys.executable, "-c", code], check=False, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        print(
            f"warning: could not prepare the {entry.name} runtime (see above); the kernel "
            "will try again when it starts",
            file=sys.stderr,
        )
        return False
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m safekernel install", description="Install the safekernel kernelspec."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="install into sys.prefix")
    where.add_argument("--prefix", help="install into PREFIX/share/jupyter/kernels")
    parser.add_argument(
        "--runtime",
        default=registry.DEFAULT_RUNTIME,
        help=f"the language of the cells: {', '.join(registry.names())} "
        f"(default: {registry.DEFAULT_RUNTIME})",
    )
    parser.add_argument("--name", help="kernel name (default: the runtime's, e.g. safe)")
    parser.add_argument("--display-name", help="name shown in menus (default: the runtime's)")
    parser.add_argument(
        "--prestart",
        action="store_true",
        help="keep one prestarted kernel process ready, so a restart or a new notebook "
        "starts at once (jupyter_client provisioner safekernel-prestart)",
    )
    parser.add_argument(
        "options", nargs="*", help="kernel options baked into the spec, e.g. --SafeKernel.timeout=5"
    )
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    try:
        entry = registry.get(args.runtime)
    except ConfigError as exc:
        print(f"could not install the kernelspec: {exc}", file=sys.stderr)
        return 2
    name = args.name or entry.kernelspec_name
    try:
        path = install(
            args.user,
            prefix,
            name,
            args.display_name,
            args.options,
            runtime=args.runtime,
            prestart=args.prestart,
        )
    except OSError as exc:
        print(f"could not install the kernelspec: {exc}. Try --user.", file=sys.stderr)
        return 1
    except ValueError as exc:  # jupyter_client's word on a bad --name
        print(f"could not install the kernelspec: {exc}", file=sys.stderr)
        return 2
    print(f"Installed kernelspec {name} in {path}")
    prepare(entry)
    if shutil.which("jupyter") is None:
        print("note: `jupyter` is not on PATH; install jupyter_console or jupyterlab to use it")
    return 0
