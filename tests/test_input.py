"""input() over the stdin channel, through a real kernel and a client that answers it (Lua
cells on the lua and wasm runtimes, Python cells on the python runtime)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import ALL_RUNTIMES, FOREVER, ByLang, Kernel, quoted, runtimes

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES


def answering(kernel: Kernel, *answers: str, delay: float = 0.0) -> Callable[[Any], None]:
    """A stdin_hook that answers input requests in order (after `delay` seconds each)."""
    pending = list(answers)
    asked: list[dict[str, Any]] = []

    def hook(msg: dict[str, Any]) -> None:
        asked.append(msg["content"])
        time.sleep(delay)
        kernel.kc.input(pending.pop(0))

    hook.asked = asked  # type: ignore[attr-defined]
    return hook


def test_input_returns_what_the_user_typed(kernel: Kernel) -> None:
    hook = answering(kernel, "Ada", "36")
    run = kernel.run(
        ByLang(
            'local name = input("Your name? ")\nlocal age = tonumber(input("Age? "))\n'
            'return "Hello " .. name .. ", " .. (age + 1) .. " next year"',
            'name = input("Your name? ")\nage = int(input("Age? "))\n'
            'f"Hello {name}, {age + 1} next year"',
        ),
        allow_stdin=True,
        stdin_hook=hook,
    )
    assert run.status == "ok", run.error
    assert run.result == kernel.pick(quoted("Hello Ada, 37 next year"))
    assert [(a["prompt"], a["password"]) for a in hook.asked] == [  # type: ignore[attr-defined]
        ("Your name? ", False),
        ("Age? ", False),
    ]


def test_password_input_asks_the_frontend_to_hide_it(kernel: Kernel) -> None:
    hook = answering(kernel, "s3cret")
    run = kernel.run(
        ByLang(
            'secret_len = #input("Password: ", {password = true})\nsecret_len',
            'import getpass\nsecret_len = len(getpass.getpass("Password: "))\nsecret_len',
        ),
        allow_stdin=True,
        stdin_hook=hook,
    )
    assert run.result == "6"
    assert hook.asked[0]["password"] is True  # type: ignore[attr-defined]


def test_non_ascii_answer_arrives_intact(kernel: Kernel) -> None:
    hook = answering(kernel, "Zoë 東京")
    run = kernel.run(
        ByLang("local s = input()\nreturn s, utf8.len(s)", "s = input()\ns, len(s)"),
        allow_stdin=True,
        stdin_hook=hook,
    )
    assert run.result == kernel.pick(ByLang('"Zoë 東京", 6', "('Zoë 東京', 6)"))


def test_input_without_stdin_is_a_clear_error(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            'local ok, err = pcall(input, "name? ")\nprint(err)\ninput("again")',
            'try:\n    input("name? ")\nexcept EOFError as err:\n    print(err)\ninput("again")',
        )
    )
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == kernel.pick(ByLang("LuaError", "EOFError"))
    assert run.error["evalue"] == kernel.pick(ByLang("cell:3: input: ", "")) + (
        "this frontend does not accept input (stdin is off); run the cell in "
        "JupyterLab, Notebook or jupyter console, or set the value in code"
    )
    assert "stdin is off" in run.stdout
    assert kernel.run("6 * 7").result == "42"


def test_waiting_for_input_does_not_count_against_the_time_limit(kernel: Kernel) -> None:
    hook = answering(kernel, "slow answer", delay=2.5)
    run = kernel.run(
        ByLang(
            '%timeout 1\nreturn input("take your time: ")', '%timeout 1\ninput("take your time: ")'
        ),
        allow_stdin=True,
        stdin_hook=hook,
    )
    assert run.status == "ok", run.error
    assert run.result == kernel.pick(quoted("slow answer"))


def test_time_limit_still_applies_to_the_cells_own_work(kernel: Kernel) -> None:
    hook = answering(kernel, "go", delay=1.5)
    run = kernel.run('%timeout 1\ninput("ready? ")\n' + FOREVER, allow_stdin=True, stdin_hook=hook)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"


@runtimes("lua", "wasm", why="Lua's input takes an options table (Python's: getpass)")
def test_bad_input_arguments_are_clear_errors(kernel: Kernel) -> None:
    run = kernel.run('input("x", {hidden = true})')
    assert run.error is not None
    assert run.error["evalue"] == "cell:1: input: unknown option hidden (use password)"


def test_interrupt_while_waiting_for_input_ends_the_cell(kernel: Kernel) -> None:
    kernel.run("kept_during_input = 7")

    def interrupt_instead_of_answering(msg: dict[str, Any]) -> None:
        kernel.km.interrupt_kernel()

    started = time.monotonic()
    run = kernel.run(
        'input("never answered: ")', allow_stdin=True, stdin_hook=interrupt_instead_of_answering
    )
    assert time.monotonic() - started < 5
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"
    # the next input gets its own answer, not a stale one
    hook = answering(kernel, "fresh")
    after = kernel.run(
        ByLang("return input(), kept_during_input", "input(), kept_during_input"),
        allow_stdin=True,
        stdin_hook=hook,
    )
    assert after.result == kernel.pick(ByLang('"fresh", 7', "('fresh', 7)"))


def test_a_loop_of_inputs_answered_at_once_never_drifts_the_clocks_into_a_kill(
    kernel: Kernel,
) -> None:
    """Each input() pauses the worker's clock for its round trip; the kernel's deadline must
    move by exactly as much, or hundreds of quick inputs add up past the hard-kill grace."""
    kernel.run("kept_through_inputs = 3")
    run = kernel.run(
        ByLang(
            '%timeout 1\nwhile true do pcall(input, "?") end',
            "%timeout 1\nwhile True:\n    try:\n        input('?')\n    except EOFError:\n"
            "        pass",
        )
    )
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert run.reply["metadata"]["state"] == "kept"
    assert kernel.run("kept_through_inputs").result == "3"


def test_many_answered_inputs_do_not_count_against_the_time_limit(kernel: Kernel) -> None:
    hook = answering(kernel, *["y"] * 40, delay=0.05)
    run = kernel.run(
        ByLang(
            '%timeout 1\nlocal n = 0\nfor i = 1, 40 do n = n + #input("more? ") end\nreturn n',
            '%timeout 1\nn = 0\nfor i in range(40): n += len(input("more? "))\nn',
        ),
        allow_stdin=True,
        stdin_hook=hook,
    )
    assert run.status == "ok", run.error
    assert run.result == "40"
