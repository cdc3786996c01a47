"""A cell's events as IOPub messages, and input() over the stdin channel: the kernel's Frontend
(wire/events.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from safekernel.limits import STDIN_POLL_S
from safekernel.wire.events import Frontend

if TYPE_CHECKING:
    from safekernel.kernel.kernel import SafeKernel


class IOPubFrontend(Frontend):
    """Session events → IOPub messages (the Session's Frontend)."""

    def __init__(self, kernel: SafeKernel, silent: bool, allow_stdin: bool) -> None:
        self.kernel = kernel
        self.silent = silent
        self.allow_stdin = allow_stdin

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        if not self.silent:
            self.kernel.send_response(self.kernel.iopub_socket, msg_type, content)

    def stream(self, name: str, text: str) -> None:
        self._send("stream", {"name": name, "text": text})

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        content: dict[str, Any] = {"data": data, "metadata": metadata}
        if display_id is not None:
            content["transient"] = {"display_id": display_id}
        self._send("update_display_data" if update and display_id else "display_data", content)

    def clear_output(self, wait: bool) -> None:
        self._send("clear_output", {"wait": wait})

    def result(self, data: dict[str, Any]) -> None:
        self._send(
            "execute_result",
            {"execution_count": self.kernel.execution_count, "data": data, "metadata": {}},
        )

    async def input(self, prompt: str, password: bool) -> str | None:
        """Ask the frontend over the stdin channel; cancellable (an interrupt cancels it).

        ipykernel's own raw_input blocks a thread until the user answers, so an interrupt
        could not end the cell; this polls the stdin socket from the event loop instead.
        """
        if not self.allow_stdin:
            return None
        kernel = self.kernel
        assert kernel.session is not None
        stdin = kernel.stdin_socket
        while stdin.poll(0):  # drop stale replies (to an earlier, interrupted request)
            stdin.recv_multipart()
        ident = kernel._get_shell_context_var(kernel._shell_parent_ident)
        kernel.session.send(
            stdin,
            "input_request",
            {"prompt": prompt, "password": password},
            kernel.get_parent("shell"),
            ident=ident,
        )
        while True:
            while stdin.poll(0):
                _, reply = kernel.session.recv(stdin)
                if reply is None or reply.get("msg_type") != "input_reply":
                    continue
                value = reply.get("content", {}).get("value")
                if not isinstance(value, str) or value == "\x04":  # EOF
                    return None
                return value
            await asyncio.sleep(STDIN_POLL_S)
