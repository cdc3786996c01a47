"""The kernel application: ipykernel's launcher with our kernel class, reading options from
the command line (`--SafeKernel.timeout=5`) and from `safekernel_config.py` / `.json` in the
Jupyter config path, as ipykernel does for its own."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp
from traitlets import Type, Unicode

from safekernel.kernel import SafeKernel


class SafeKernelApp(IPKernelApp):
    name = Unicode("safekernel")  # config files: safekernel_config.py / .json
    kernel_class = Type(SafeKernel, klass=SafeKernel)
    classes = [*IPKernelApp.classes, SafeKernel]  # noqa: RUF012
