"""The reseed cell a restored Python kernel runs (issue 11, item 6): it must not fail, nor import
numpy, in an image without numpy (the base template): a failing set-up cell fails the restore."""

from __future__ import annotations

import subprocess
import sys

from interpreter.execution import languages

RESEED = languages.resolve("python").reseed


def printed_after_reseed(before: str, after: str) -> str:
    """What a fresh interpreter prints running ``before``, the reseed cell, then ``after``."""
    code = f"{before}\nexec({RESEED!r}, {{}})\n{after}"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_the_reseed_cell_runs_without_numpy_and_does_not_import_it() -> None:
    # numpy blocked as if not installed: an import of it raises ModuleNotFoundError.
    block = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a):\n"
        "        if name == 'numpy': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())"
    )
    assert printed_after_reseed(block, "print('numpy' in sys.modules)") == "False\n"
    # Installed but not imported (as in a kernel that never used it): not imported either.
    assert printed_after_reseed("import sys", "print('numpy' in sys.modules)") == "False\n"


def test_the_reseed_cell_reseeds_an_imported_numpy() -> None:
    seeded = "import numpy, pickle\nnumpy.random.seed(1)"
    state = "pickle.dumps(numpy.random.get_state())"
    before = f"{seeded}; before = {state}; numpy.random.seed(1)"
    assert printed_after_reseed(before, f"print({state} != before)") == "True\n"
