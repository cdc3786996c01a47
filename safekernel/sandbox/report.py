"""What each sandbox layer did: the report the kernel shows in kernel_info and `%sandbox`."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LayerState(enum.StrEnum):
    """How one layer ended up after `harden()` tried to apply it."""

    ACTIVE = "active"
    #: the host cannot provide it (old kernel, no user namespaces, ...): a loud warning
    UNAVAILABLE = "unavailable"
    #: it should have worked and did not: a loud warning, or a refusal under require_all_layers
    FAILED = "failed"
    #: switched off by configuration
    DISABLED = "disabled"


@dataclass(frozen=True)
class LayerStatus:
    """One layer's outcome, with a short human reason (no traceback)."""

    name: str
    state: LayerState
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.state is LayerState.ACTIVE

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "state": self.state.value, "detail": self.detail}

    @classmethod
    def from_wire(cls, data: object) -> LayerStatus:
        """Rebuild a status sent by a worker; anything malformed becomes a FAILED entry."""
        if not isinstance(data, dict):
            return cls("?", LayerState.FAILED, "malformed layer report")
        name = data.get("name")
        state = data.get("state")
        detail = data.get("detail", "")
        try:
            parsed = LayerState(str(state))
        except ValueError:
            parsed = LayerState.FAILED
        if not isinstance(name, str) or not isinstance(detail, str):
            return cls("?", LayerState.FAILED, "malformed layer report")
        return cls(name[:64], parsed, detail[:300])
