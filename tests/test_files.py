"""Files written atomically (temporary name, then rename) get the mode the umask says,
like any other new file, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from sizing.files import atomic_write_text, current_umask
from sizing.measure.calibrate import write_profile
from sizing.measure.runner import write_csv_atomic
from sizing.models.profile import load_profile

MODELS = Path(__file__).parents[1] / "models" / "profiles"


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_is_read_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_report_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    path = atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
    assert _mode(path) == 0o666 & ~umask


def test_measurement_csv_respects_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "m.csv"
    write_csv_atomic(pd.DataFrame({"a": [1]}), path)
    assert _mode(path) == 0o666 & ~umask


def test_fitted_profile_respects_the_umask(tmp_path: Path, umask: int) -> None:
    profile = load_profile(sorted(MODELS.glob("*.yaml"))[0])
    path = write_profile(profile, tmp_path / "p.yaml")
    assert _mode(path) == 0o666 & ~umask


class _FailingFrame:
    def to_csv(self, handle, index: bool = False) -> None:
        handle.write("half,a,row")
        raise RuntimeError("disk full")


def test_an_interrupted_measurement_csv_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk full"):
        write_csv_atomic(_FailingFrame(), path)  # type: ignore[arg-type]
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]
