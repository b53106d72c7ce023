"""sizing.safe_yaml: hostile YAML is refused with the file and line, at every door
(``sizing run``, ``plan``, a batch's base file, a profile, the web form's upload)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sizing.app.runs import scenario_from_upload
from sizing.cli.main import main
from sizing.safe_yaml import ALIAS_BUDGET, MAX_DEPTH, YamlInputError, load_yaml
from sizing.scenario import ScenarioError, load_scenario

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
MINIMAL = (EXAMPLES / "minimal.yaml").read_text()


def alias_bomb(levels: int = 10) -> str:
    """The "billion laughs": each level's list names the one before nine times."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels], strict=False):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text


def deep(levels: int = 5000) -> str:
    return "x: " + "[" * levels + "]" * levels + "\n"


HOSTILE = {
    "alias bomb": (alias_bomb().encode(), "aliases expand to"),
    "deep nesting": (deep().encode(), f"nested more than {MAX_DEPTH} levels deep"),
    "not UTF-8": (b"traffic:\n  calls_per_second: \xff\xfe5\n", "not UTF-8 text"),
    "binary": (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary data"),
    "duplicate key": (MINIMAL.replace("trunk:\n", "trunk:\n  channels: 5\n").encode(),
                      "duplicate key 'channels'"),
}


def test_an_alias_bomb_is_refused_before_it_expands():
    bomb = alias_bomb()
    assert len(bomb) < 500
    with pytest.raises(YamlInputError, match=f"more than {ALIAS_BUDGET:,} beyond"):
        load_yaml(bomb, "bomb.yaml")


def test_aliases_within_the_budget_still_work():
    doc = load_yaml("base: &b {latency_ms: 5}\nlinks:\n  a: *b\n  b: {<<: *b, loss: 0.1}\n",
                    "ok.yaml")
    assert doc["links"] == {"a": {"latency_ms": 5}, "b": {"latency_ms": 5, "loss": 0.1}}


def test_a_recursive_alias_is_refused():
    with pytest.raises(YamlInputError, match="recursive alias"):
        load_yaml("a: &x [1, *x]\n", "r.yaml")


def test_a_duplicate_key_names_both_lines():
    text = "trunk:\n  channels: 10\n  codec: PCMU\n  channels: 20\n"
    with pytest.raises(YamlInputError) as info:
        load_yaml(text, "dup.yaml")
    assert str(info.value) == ("dup.yaml:4:3: invalid YAML: duplicate key 'channels' "
                               "(first on line 2, again on line 4)")


def test_a_merge_key_override_is_not_a_duplicate():
    assert load_yaml("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n", "m.yaml")["b"] == {"x": 2}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_load_scenario_refuses_hostile_yaml_naming_the_file(tmp_path, case):
    data, message = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("command", [["run", "--quiet"], ["plan", "--no-simulate"]])
def test_run_and_plan_refuse_hostile_yaml_with_exit_2(tmp_path, capsys, case, command):
    data, message = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(data)
    assert main([command[0], str(path), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sizing: error: {path}")
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_batch_base_file_is_parsed_with_the_same_limits(tmp_path, capsys, case):
    data, message = HOSTILE[case]
    base = tmp_path / "base.yaml"
    base.write_bytes(data)
    sites = tmp_path / "sites.csv"
    sites.write_text("site,traffic.calls_per_second\na,1\n")
    out = tmp_path / "out"
    assert main(["batch", str(sites), "--base", str(base), "--out", str(out),
                 "--no-simulate", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "sizing: error: " in err and str(base) in err and message in err
    assert not out.exists()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_web_form_upload_refuses_hostile_yaml(case):
    data, message = HOSTILE[case]
    with pytest.raises(ScenarioError, match=message) as info:
        scenario_from_upload(data, "upload.yaml")
    assert str(info.value).startswith("upload.yaml")


def test_a_profile_file_is_parsed_with_the_same_limits(tmp_path, capsys):
    profile = tmp_path / "bomb.yaml"
    profile.write_text(alias_bomb())
    assert main(["plan", str(EXAMPLES / "minimal.yaml"), "--no-simulate", "--set",
                 f"topology.proxy.profile={profile}"]) == 2
    assert "aliases expand to" in capsys.readouterr().err


def test_an_override_value_is_parsed_with_the_same_limits(capsys):
    bomb = "[" + ",".join(["&a [1,1,1,1,1,1,1,1,1,1]"] + ["*a"] * 2000) + "]"
    assert main(["plan", str(EXAMPLES / "minimal.yaml"), "--no-simulate", "--set",
                 f"traffic.arrivals.hourly_weights={bomb}"]) == 2
    assert "aliases expand to" in capsys.readouterr().err


def test_the_alias_bomb_is_refused_promptly_by_the_console_script(tmp_path):
    """A hang guard, not a speed test: the bomb used to run past 120 s at 3.5 GB."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    proc = subprocess.run([sys.executable, "-m", "sizing.cli", "plan", str(path),
                           "--no-simulate"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "aliases expand to" in proc.stderr
