"""The reseed cell a restored Python kernel runs (issue 11, item 6): it must not fail, nor import
numpy, in an image without numpy (the base template): a failing set-up cell fails the restore."""

from __future__ import annotations

import subprocess
import sys

from interpreter.execution import languages


def test_the_reseed_cell_runs_without_numpy_and_does_not_import_it() -> None:
    reseed = languages.resolve("python").reseed
    assert reseed is not None
    # numpy blocked as if not installed: an import of it raises ModuleNotFoundError.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a):\n"
        "        if name == 'numpy': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"exec({reseed!r}, {{}})\n"
        "print('numpy' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "False\n"


def test_the_reseed_cell_reseeds_an_imported_numpy() -> None:
    reseed = languages.resolve("python").reseed
    code = (
        "import numpy, pickle\n"
        "numpy.random.seed(1); before = pickle.dumps(numpy.random.get_state())\n"
        "numpy.random.seed(1)\n"
        f"exec({reseed!r}, {{}})\n"
        "print(pickle.dumps(numpy.random.get_state()) != before)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "True\n"
