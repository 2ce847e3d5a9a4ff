"""Nothing reaches the network at run time: ingest, search, ask, align and draft with every
non-loopback connection refused, in a fresh process so the model load is covered too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import ipaddress, json, socket, sys

    attempts = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def _loopback(host):
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host in ("localhost",)

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else ""
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(str(host)):
            attempts.append(str(address))
            raise OSError("network blocked by the test")
        return real_connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host is not None and not _loopback(str(host)):
            attempts.append(f"dns:{host}")
            raise socket.gaierror("network blocked by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.getaddrinfo = guarded_getaddrinfo

    from assistant.config import Settings, set_offline_env
    set_offline_env()
    from assistant.service import build_assistant

    assistant = build_assistant(Settings.from_env())
    assistant.ingest(progress=False)
    hits = assistant.search("What are the three phases of a migration crisis?", 3)
    answer = assistant.ask("What are the three phases of a migration crisis?")
    draft = assistant.draft("Evacuate stranded migrant workers from a city under attack.")
    during_work = list(attempts)
    try:  # the guard itself works: a connection to a documentation address is refused and recorded
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    except OSError:
        pass
    print(json.dumps({"attempts": during_work, "probe": attempts[len(during_work):], "hits": len(hits),
                      "refused": answer.refused, "citations": len(answer.citations),
                      "draft_citations": len(draft.citations)}))
    """
)


@pytest.mark.integration
def test_no_connection_leaves_this_machine(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "corpus" / "mcof-2012-key-elements.txt", corpus)
    shutil.copy(REPO / "corpus" / "mcof-evaluation-2019-summary.txt", corpus)
    manifest = json.loads((REPO / "corpus" / "manifest.json").read_text(encoding="utf-8"))
    manifest["documents"] = [d for d in manifest["documents"] if (corpus / d["doc"]).exists()]
    (corpus / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "ANONYMIZED_TELEMETRY")
    }
    env.update(MCOF_CORPUS_DIR=str(corpus), MCOF_INDEX_DIR=str(tmp_path / "index"), MCOF_LLM_BACKEND="none")
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["probe"], "the network guard did not see the probe connection"
    assert result["attempts"] == []  # not one connection or DNS lookup beyond loopback
    assert result["hits"] == 3 and not result["refused"] and result["citations"] >= 1
    assert result["draft_citations"] >= 3
