"""`python -m safekernel`:

python -m safekernel install [--user | --sys-prefix | --prefix DIR] [--runtime NAME] [--name NAME]
python -m safekernel grade NOTEBOOK_OR_DIR ... [-o DIR] [-j N]   (or: safekernel grade ...)
python -m safekernel -f CONNECTION_FILE [--SafeKernel.timeout=5 ...]   (Jupyter runs this)
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        from safekernel.kernel.install import main as install_main

        return install_main(argv[1:])
    if argv[:1] == ["grade"]:
        from safekernel.grade import main as grade_main

        return grade_main(argv[1:])
    if _launched_by_jupyter(argv):
        # before the ~0.45 s of ipykernel's imports, so the zygote starts beside them (see
        # kernel/zygote.py); from the main thread, which the zygote's parent-death signal follows
        from safekernel.kernel.zygote import prestart

        prestart(_runtime_option(argv))
    from safekernel.kernel.app import SafeKernelApp

    if os.environ.get("SAFEKERNEL_PRESTART") == "1":
        # a spare of the prestart provisioner: imports done, zygote up; wait to be claimed
        from safekernel.kernel.provisioner import wait_for_claim

        claimed = wait_for_claim(argv)
        if claimed is None:
            return 0
        argv = claimed

    SafeKernelApp.launch_instance(argv=argv)
    return 0


def _runtime_option(argv: list[str]) -> str:
    """The runtime named on the command line (`--SafeKernel.runtime=NAME`), else the default.
    A config file may still choose another: the pool then starts that runtime's zygote."""
    from safekernel.runtimes.registry import DEFAULT_RUNTIME

    option = "--SafeKernel.runtime"
    for arg, following in zip(argv, [*argv[1:], ""], strict=True):
        if arg.startswith(option + "="):
            return arg.removeprefix(option + "=")
        if arg == option and following:
            return following
    return DEFAULT_RUNTIME


def _launched_by_jupyter(argv: list[str]) -> bool:
    """A kernel launch (`-f CONNECTION_FILE`), not `--help` and the like."""
    return any(arg in ("-f", "--f") or arg.startswith(("-f=", "--f=")) for arg in argv)


CONSOLE_USAGE = """usage: safekernel COMMAND ...

commands:
  grade    run notebooks or directories of submissions headless, with a summary of every
           cell's verdict (safekernel grade --help)
  install  install the kernelspec (safekernel install --help)
"""


def console() -> None:
    """The `safekernel` console script: its subcommands (the kernel itself is started by
    Jupyter through `python -m safekernel -f ...`)."""
    argv = sys.argv[1:]
    if argv[:1] in (["grade"], ["install"]):
        sys.exit(main(argv))
    if argv[:1] in (["-h"], ["--help"]):
        print(CONSOLE_USAGE, end="")
        sys.exit(0)
    print(CONSOLE_USAGE, end="", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
