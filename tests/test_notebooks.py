"""The notebooks under notebooks/: stored executed (a reader sees the figures and tables
without running them), the stored outputs made by the cells as they are now, and each
notebook still running top to bottom.

``scripts/refresh_notebooks.py`` (``scripts/refresh-notebooks.sh``) executes them and
stores them, with a digest of every cell's source in the notebook's metadata. Here each
notebook runs with nbclient in a fresh kernel of *this* interpreter (a kernel spec
written to a temporary directory, so a ``python3`` kernel installed elsewhere on the
machine cannot be picked up instead), with the notebook's directory as working
directory, as Jupyter runs it.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run on)
import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
REFRESH = "run scripts/refresh-notebooks.sh (python scripts/refresh_notebooks.py) and commit"

_spec = importlib.util.spec_from_file_location("refresh_notebooks", ROOT / "scripts" / "refresh_notebooks.py")
assert _spec is not None and _spec.loader is not None
refresh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refresh)


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A kernel spec manager that knows one kernel: ipykernel on this interpreter."""
    return refresh.kernel_specs(tmp_path_factory.mktemp("kernels"))


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


def _has_image(nb: nbformat.NotebookNode) -> bool:
    return any("image/png" in output.get("data", {})
               for cell in nb.cells for output in cell.get("outputs", []))


def test_every_notebook_is_collected() -> None:
    # the parametrized tests below would pass vacuously over an empty glob
    assert [p.name for p in NOTEBOOKS] == ["01-quickstart.ipynb", "02-codecs-and-tls.ipynb",
                                           "03-overload.ipynb", "04-calibration.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_executed_from_its_current_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    recorded = nb.metadata.get("sizing", {}).get("cell_sources")
    assert recorded is not None, f"{path.name}: stored without outputs; {REFRESH}"
    assert recorded == refresh.cell_sources(nb), \
        f"{path.name}: cells changed since their outputs were made; {REFRESH}"
    unrun = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and cell.get("execution_count") is None]
    assert unrun == [], f"{path.name}: cells {unrun} were not executed; {REFRESH}"
    assert _errors(nb) == []
    assert _has_image(nb), f"{path.name}: no figure stored"
    assert nb.metadata["kernelspec"] == refresh.STORED_KERNELSPEC  # not this machine's kernel


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_stored_outputs_are_current(path: Path, kernel_specs) -> None:  # type: ignore[no-untyped-def]
    stored = nbformat.read(path, as_version=4)
    start = time.monotonic()
    try:
        fresh = refresh.execute(path, kernel_specs)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: {exc}")
    print(f"{path.name}: executed in {time.monotonic() - start:.1f} s")
    assert _errors(fresh) == []
    # every notebook plots: a Figure that does not render as an image is a silent failure
    assert _has_image(fresh)
    assert [(c.cell_type, c.source) for c in fresh.cells] == \
        [(c.cell_type, c.source) for c in stored.cells]
    missing = [i for i, (new, old) in enumerate(zip(fresh.cells, stored.cells, strict=True))
               if new.cell_type == "code" and new.outputs and not old.outputs]
    assert missing == [], f"{path.name}: cells {missing} produce output but none is stored; {REFRESH}"


def test_an_edited_cell_no_longer_matches_its_stored_outputs() -> None:
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    before = refresh.cell_sources(nb)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\n# edited"
    assert refresh.cell_sources(nb) != before
    assert refresh.cleared(nb).cells[nb.cells.index(code)].outputs == []
