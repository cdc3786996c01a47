"""The worker side (untrusted once a cell runs): the zygote that forks workers, and the worker
loop that confines itself and then runs cells in a runtime. Nothing here imports the kernel
side, ipykernel, ZMQ or asyncio (import-linter holds it to that)."""
