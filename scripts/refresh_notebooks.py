"""Execute the notebooks and store them with their outputs (figures and tables).

Usage: .venv/bin/python scripts/refresh_notebooks.py [NOTEBOOK ...]   (default: all of notebooks/)

Each notebook runs top to bottom in a fresh kernel of this interpreter, in its own
directory (as Jupyter runs it), with PYTHONHASHSEED fixed; the notebooks fix their
scenarios' seeds, so the figures change only when the code does (notebook 04
measures a live server when SIPp is installed: its numbers are the machine's).
The notebook's metadata records a digest of every cell's source
(``metadata.sizing.cell_sources``): tests/test_notebooks.py compares it with the
cells, so outputs left over from older code are caught. Run this script after
editing a notebook or changing what it shows.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
KERNEL = "sizing-notebooks"
CELL_TIMEOUT_S = 120
STORED_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def kernel_specs(root: Path) -> KernelSpecManager:
    """A kernel spec manager that knows one kernel: ipykernel on this interpreter, with a
    fixed hash seed (a ``python3`` kernel installed elsewhere cannot be picked up)."""
    spec = root / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})",
        "language": "python",
        "env": {"PYTHONHASHSEED": "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    }), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


def cell_sources(nb: nbformat.NotebookNode) -> list[str]:
    """A digest of each cell's type and source, in order."""
    return [hashlib.sha256(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:16]
            for cell in nb.cells]


def cleared(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without outputs and execution counts (what a fresh run starts from)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    return nb


def execute(path: Path, specs: KernelSpecManager) -> nbformat.NotebookNode:
    """The notebook at ``path`` run from scratch (raises CellExecutionError on an error)."""
    nb = cleared(nbformat.read(path, as_version=4))
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False,
                                     record_timing=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        if km.has_kernel:  # nbclient leaves a kernel it was given running
            km.shutdown_kernel(now=True)
    return nb


def stored_form(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` as it is stored: the generic kernel, no interpreter version, the source digests."""
    nb.metadata["kernelspec"] = dict(STORED_KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["sizing"] = {"cell_sources": cell_sources(nb),
                             "refreshed_by": "scripts/refresh_notebooks.py"}
    return nb


def refresh(paths: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as kernels:
        specs = kernel_specs(Path(kernels))
        for path in paths:
            nb = stored_form(execute(path, specs))
            nbformat.validate(nb)
            nbformat.write(nb, path)
            print(f"refreshed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    chosen = [Path(p).resolve() for p in sys.argv[1:]] or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    refresh(chosen)
