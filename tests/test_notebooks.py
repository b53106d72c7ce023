"""The notebooks under notebooks/: stored without outputs, and each runs top to bottom.

Each notebook is executed with nbclient in a fresh kernel of *this* interpreter (a
kernel spec written to a temporary directory, so a ``python3`` kernel installed
elsewhere on the machine cannot be picked up instead), with the notebook's directory
as working directory, as Jupyter runs it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run on)
import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120
"""Longest a single cell may run; the slowest cell (a simulation) takes well under a minute."""
KERNEL = "sizing-tests"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernel spec manager that knows one kernel: ipykernel on this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})",
        "language": "python",
    }), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    """Every error output and stderr traceback of an executed notebook, as text."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output['ename']}: {output['evalue']}")
            elif output.get("name") == "stderr" and "Traceback" in output.get("text", ""):
                found.append(f"cell {index}: traceback on stderr:\n{output['text']}")
    return found


def test_every_notebook_is_collected() -> None:
    # the parametrized tests below would pass vacuously over an empty glob
    assert [p.name for p in NOTEBOOKS] == ["01-quickstart.ipynb", "02-codecs-and-tls.ipynb",
                                           "03-overload.ipynb", "04-calibration.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    stored = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert stored == [], f"{path.name}: cells {stored} keep outputs or execution counts"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path: Path, kernel_specs: KernelSpecManager) -> None:
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: {exc}")
    finally:
        if km.has_kernel:  # nbclient leaves a kernel it was given running
            km.shutdown_kernel(now=True)
    print(f"{path.name}: executed in {time.monotonic() - start:.1f} s")
    assert _errors(nb) == []
    # every notebook plots: a Figure that does not render as an image is a silent failure
    assert any("image/png" in output.get("data", {})
               for cell in nb.cells for output in cell.get("outputs", []))
