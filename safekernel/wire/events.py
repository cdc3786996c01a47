"""Where a cell's events go: the kernel publishes them on IOPub; a replay drops them."""

from __future__ import annotations

from typing import Any, Protocol


class Frontend(Protocol):
    def stream(self, name: str, text: str) -> None: ...

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None: ...

    def clear_output(self, wait: bool) -> None: ...

    def result(self, data: dict[str, Any]) -> None: ...

    async def input(self, prompt: str, password: bool) -> str | None: ...
