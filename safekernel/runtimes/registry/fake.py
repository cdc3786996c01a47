"""The scripted test runtime (safekernel/runtimes/fake/): hidden, for fast tests of the kernel,
the session and the pool that need no real language."""

from __future__ import annotations

from safekernel.runtimes.registry import RuntimeEntry

ENTRY = RuntimeEntry(
    name="fake",
    module="safekernel.runtimes.fake",
    factory="FakeRuntime",
    language_info={
        "name": "fake",
        "version": "1",
        "mimetype": "text/plain",
        "file_extension": ".txt",
    },
    banner="a scripted test runtime",
    kernelspec_name="safe-fake",
    display_name="Fake (safekernel tests)",
    hidden=True,
)
