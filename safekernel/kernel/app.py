"""The kernel application: ipykernel's launcher with our kernel class, reading options from
the command line (`--SafeKernel.timeout=5`) and from `safekernel_config.py` / `.json` in the
Jupyter config path, as ipykernel does for its own."""

from __future__ import annotations

from ipykernel.displayhook import ZMQDisplayHook
from ipykernel.kernelapp import IPKernelApp
from traitlets import Type, Unicode

from safekernel.kernel.kernel import SafeKernel


class SafeKernelApp(IPKernelApp):
    name = Unicode("safekernel")  # config files: safekernel_config.py / .json
    kernel_class = Type(SafeKernel, klass=SafeKernel)
    classes = [*IPKernelApp.classes, SafeKernel]  # noqa: RUF012

    def init_sockets(self) -> None:
        """No shell-channel thread: it exists for kernel subshells, which run handlers on
        threads and loops of their own beside the session's one conversation with its worker.
        Without it every shell request is handled on the main loop, one at a time, and the
        kernel refuses subshell requests (kernel/requests.py)."""
        super().init_sockets()
        self.shell_channel_thread = None

    def init_io(self) -> None:
        """Leave this process's stdout and stderr as they are: they go to the kernel's log.

        ipykernel sends them to the notebook, for user code that prints; no user code runs in
        this process, and that routing cost every execute_reply two waits on the IOPub thread
        (sys.stdout/sys.stderr.flush()) plus threads that watch fds 1 and 2.
        """
        # init_kernel hands the displayhook the execution count; only Python code would use it
        self.displayhook = ZMQDisplayHook(self.session, self.iopub_socket)
