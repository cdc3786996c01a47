"""`python -m safekernel`:

python -m safekernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]
python -m safekernel -f CONNECTION_FILE [--SafeKernel.timeout=5 ...]   (Jupyter runs this)
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        from safekernel.install import main as install_main

        return install_main(argv[1:])
    from safekernel.app import SafeKernelApp

    SafeKernelApp.launch_instance(argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
