"""Settings: parsed from an environment mapping, validated, secrets hidden."""

from __future__ import annotations

import doctest
import os
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from assistant import config
from assistant.config import DEFAULT_LOCAL_LLM_MODEL, OFFLINE_ENV, SECTOR_EXAMPLES_FILE, Settings
from assistant.errors import ConfigError


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        llm_backend="local", llm_model=DEFAULT_LOCAL_LLM_MODEL, sector_examples=str(SECTOR_EXAMPLES_FILE)
    )
    assert settings.index_dir == Path(".mcof/index") and not settings.server_mode
    assert Settings().llm_backend == "none"  # the bare settings a library caller builds: no LLM


def test_the_product_judges_answers_with_the_local_llm_unless_told_otherwise() -> None:
    assert Settings.from_env({"MCOF_LLM_BACKEND": ""}).llm_backend == "local"
    assert Settings.from_env({"MCOF_LLM_BACKEND": "none"}).llm_backend == "none"
    assert not Settings.from_env({}).llm_writes


def test_the_product_reads_the_shipped_sector_examples_unless_told_otherwise() -> None:
    assert SECTOR_EXAMPLES_FILE.is_file() and Settings().sector_examples == ""
    assert Settings.from_env({"MCOF_SECTOR_EXAMPLES": "none"}).sector_examples == "none"


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env(
        {
            "MCOF_INDEX_DIR": "/tmp/idx",
            "MCOF_CORPUS_DIR": "~/corpus",
            "MCOF_PORT": " 8080 ",
            "MCOF_LLM_TIMEOUT": "12.5",
            "MCOF_CHROMA_HOST": "  chroma.local ",
            "MCOF_EMBED_BATCH_SIZE": "16",
        }
    )
    assert settings.index_dir == Path("/tmp/idx")
    assert settings.corpus_dir == Path.home() / "corpus"
    assert settings.port == 8080 and settings.llm_timeout == 12.5 and settings.embed_batch_size == 16
    assert settings.chroma_host == "chroma.local" and settings.server_mode


def test_an_empty_variable_keeps_the_default() -> None:
    assert Settings.from_env({"MCOF_PORT": "", "MCOF_COLLECTION": ""}) == Settings.from_env({})


def test_variables_outside_the_table_are_ignored() -> None:
    assert Settings.from_env({"PORT": "1", "MCOF_UNKNOWN": "x", "HOME": "/root"}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MCOF_PORT", "eighty"), ("MCOF_EMBED_BATCH_SIZE", "1.5"), ("MCOF_LLM_TIMEOUT", "soon")],
)
def test_a_bad_number_is_a_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert variable in str(caught.value) and repr(value) in str(caught.value)


def test_an_unknown_llm_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MCOF_LLM_BACKEND must be one of none, openai, ollama"):
        Settings.from_env({"MCOF_LLM_BACKEND": "gpt"})


def test_an_llm_backend_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="MCOF_LLM_MODEL"):
        Settings.from_env({"MCOF_LLM_BACKEND": "openai"})
    settings = Settings.from_env({"MCOF_LLM_BACKEND": "ollama", "MCOF_LLM_MODEL": "qwen2.5:0.5b"})
    assert (settings.llm_backend, settings.llm_model) == ("ollama", "qwen2.5:0.5b")


def test_a_too_short_collection_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MCOF_COLLECTION"):
        Settings.from_env({"MCOF_COLLECTION": "ab"})


def test_overrides_win_over_the_environment_and_none_is_ignored() -> None:
    settings = Settings.from_env({"MCOF_INDEX_DIR": "/env/idx", "MCOF_PORT": "9000"}, index_dir="/flag/idx", port=None)
    assert settings.index_dir == Path("/flag/idx") and settings.port == 9000


def test_an_unknown_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        Settings().with_overrides(colour="blue")


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match="MCOF_LLM_BACKEND"):
        Settings().with_overrides(llm_backend="gpt")


def test_settings_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        Settings().port = 1  # type: ignore[misc]


def test_every_field_has_an_environment_variable() -> None:
    names = set(Settings.ENV.values())
    assert set(Settings.ENV) == {f.name for f in fields(Settings)}
    assert len(names) == len(Settings.ENV)


def test_redacted_hides_the_api_key_and_the_password() -> None:
    settings = Settings.from_env(
        {"OPENAI_API_KEY": "sk-secret-123", "MCOF_AUTH": "admin:hunter2", "MCOF_LLM_BACKEND": "openai",
         "MCOF_LLM_MODEL": "gpt-4o-mini"}
    )
    assert settings.llm_api_key == "sk-secret-123"
    shown = settings.redacted()
    assert shown["llm_api_key"] == "***" and shown["auth"] == "***"
    assert not any("sk-secret" in v or "hunter2" in v for v in shown.values())
    assert shown["llm_model"] == "gpt-4o-mini" and shown["port"] == "7860"
    assert "sk-secret" not in repr(shown)


def test_redacted_shows_an_unset_secret_as_empty() -> None:
    assert Settings().redacted()["llm_api_key"] == ""


def test_offline_switches_cover_the_hub_and_telemetry() -> None:
    assert OFFLINE_ENV["HF_HUB_OFFLINE"] == "1" and OFFLINE_ENV["TRANSFORMERS_OFFLINE"] == "1"
    assert OFFLINE_ENV["ANONYMIZED_TELEMETRY"] == "False" and OFFLINE_ENV["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_set_offline_env_keeps_a_value_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    config.set_offline_env()
    assert os.environ["HF_HUB_OFFLINE"] == "0" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_docstring_example_of_the_config_module_holds() -> None:
    assert doctest.testmod(config).failed == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MCOF_MAX_QUERY_CHARS", "-5", "MCOF_MAX_QUERY_CHARS must be at least 1, not -5"),
        ("MCOF_MAX_QUERY_CHARS", "0", "MCOF_MAX_QUERY_CHARS must be at least 1, not 0"),
        ("MCOF_MAX_UPLOAD_MB", "-1", "MCOF_MAX_UPLOAD_MB must be at least 1, not -1"),
        ("MCOF_PORT", "70000", "MCOF_PORT must be between 1 and 65535, not 70000"),
        ("MCOF_CHROMA_PORT", "0", "MCOF_CHROMA_PORT must be between 1 and 65535, not 0"),
        ("MCOF_CONCURRENCY", "0", "MCOF_CONCURRENCY must be at least 1, not 0"),
        ("MCOF_EMBED_BATCH_SIZE", "-64", "MCOF_EMBED_BATCH_SIZE must be at least 1, not -64"),
        ("MCOF_LLM_TIMEOUT", "nan", "MCOF_LLM_TIMEOUT must be at least 0.1, not nan"),
        ("MCOF_LLM_TIMEOUT", "-3", "MCOF_LLM_TIMEOUT must be at least 0.1, not -3"),
        ("MCOF_LOG_LEVEL", "loud", "MCOF_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'"),
    ],
)
def test_a_value_out_of_range_is_refused_at_start(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value) == message


def test_an_out_of_range_setting_stops_the_cli_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from assistant.cli import main

    monkeypatch.setenv("MCOF_MAX_QUERY_CHARS", "-5")
    assert main(["search", "migration"]) == 1
    assert capsys.readouterr().err == "error: MCOF_MAX_QUERY_CHARS must be at least 1, not -5\n"
