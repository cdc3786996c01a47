"""The kernel application: ipykernel's launcher with our kernel class, reading options from
the command line (`--SafeKernel.timeout=5`) and from `safekernel_config.py` / `.json` in the
Jupyter config path, as ipykernel does for its own."""

from __future__ import annotations

import threading
from typing import Any

import zmq
from ipykernel.displayhook import ZMQDisplayHook
from ipykernel.iostream import IOPubThread
from ipykernel.kernelapp import IPKernelApp
from traitlets import Type, Unicode

from safekernel.kernel.kernel import SafeKernel

# a control handler that is still running past this is not waited for (the thread is a daemon)
CONTROL_JOIN_TIMEOUT_S = 5.0
#: the first frame byte of an XPUB subscription (0 unsubscribes)
SUBSCRIBE = 1


class ListenedIOPubThread(IOPubThread):
    """ipykernel's IOPub thread, which also records that a client has subscribed.

    A SUB socket's subscription reaches the kernel some time after the client connects (ZMQ
    retries a connection every 100-200 ms, and the client's shell channel may win), and
    whatever IOPub sends before it is dropped. A client that sends its first cell as soon as
    kernel_info is answered, as jupyter_console does (jupyter_client's wait_for_ready checks
    IOPub, the console does not), lost that cell's output and its final `status: idle`, and
    waited for it for ever: measured, 1 first cell in ~10 over IPC on this machine. The kernel
    therefore answers kernel_info only once `subscribed` is set (kernel.py).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.subscribed = threading.Event()
        super().__init__(*args, **kwargs)
        if not hasattr(IOPubThread, "_handle_subscription"):
            # an ipykernel that does not read its XPUB's subscriptions: nothing would ever
            # say a client listens, so nothing waits for one (the behaviour before the fix)
            self.subscribed.set()

    def _handle_subscription(self, frames: list[bytes]) -> None:
        """Runs on the IOPub thread for each subscription; ipykernel sends its iopub_welcome."""
        super()._handle_subscription(frames)
        if any(frame[:1] == bytes([SUBSCRIBE]) for frame in frames):
            self.subscribed.set()


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

    def init_iopub(self, context: Any) -> None:
        """The IOPub socket never drops a message, so a cell's error and the final `status:
        idle` reach a slow client however much the cell printed before them.

        ZMQ's default high-water mark (1000 messages per subscriber) made the socket drop
        messages silently once a client fell behind, and it drops the newest: the very ones
        that end the cell, and the client hung waiting for them. The backlog is bounded by
        each cell's budget instead (Limits.messages and the byte limits, see budget.py).
        """
        # the context's default option applies to the sockets made from here on: IOPub and
        # the IOPub thread's inproc pipes (which then queue rather than block the main thread)
        context.setsockopt(zmq.SNDHWM, 0)
        try:
            # ipykernel's own init_iopub, but with pipe=False: the pipe is a PULL socket on
            # 127.0.0.1 for output from forks of this process, which never run code here (the
            # workers are forks of a separate zygote and write to their own channel). It was
            # the kernel's one TCP listener under the IPC transport, and it has no Curve keys.
            self.iopub_socket = context.socket(zmq.XPUB)
            self.iopub_socket.linger = 1000
            self._apply_curve_server_options(self.iopub_socket)
            self.iopub_port = self._bind_socket(self.iopub_socket, self.iopub_port)
            self.log.debug("iopub PUB Channel on port: %i", self.iopub_port)
            self.configure_tornado_logger()
            self.iopub_thread = ListenedIOPubThread(
                self.iopub_socket, pipe=False, session=self.session
            )
            self.iopub_thread.start()
            self.iopub_socket = self.iopub_thread.background_socket
        finally:
            context.sockopts.pop(zmq.SNDHWM, None)

    def start(self) -> None:
        super().start()
        # the main loop has stopped (a shutdown_request): the process exits next, and its
        # atexit handlers stop IOPub first (IOPubThread registers its stop after our close)
        self.finish_control()

    def finish_control(self) -> None:
        """Let the control thread finish its message before IOPub closes.

        A shutdown_request ends with the control thread publishing `status: idle`, while the
        main thread, whose loop the handler stopped, goes on to exit: atexit stops the IOPub
        thread (its own handler, registered last, runs first) and then ipykernel's close(). When
        the exit got there first, that publish raised ZMQError "Socket operation on
        non-socket" on the closed pipe, and the traceback went to the kernel's stderr: a
        grader's or a notebook server's log. So the control thread is stopped and joined
        here, before any of that.
        """
        control = self.control_thread
        if control is not None and control.is_alive():
            control.stop()
            control.join(CONTROL_JOIN_TIMEOUT_S)

    def close(self) -> None:
        self.finish_control()
        super().close()

    def init_io(self) -> None:
        """Leave this process's stdout and stderr as they are: they go to the kernel's log.

        ipykernel sends them to the notebook, for user code that prints; no user code runs in
        this process, and that routing cost every execute_reply two waits on the IOPub thread
        (sys.stdout/sys.stderr.flush()) plus threads that watch fds 1 and 2.
        """
        # init_kernel hands the displayhook the execution count; only Python code would use it
        self.displayhook = ZMQDisplayHook(self.session, self.iopub_socket)
