"""``secondme model list|download|use|endpoint``: choose the language model.

Only click is imported at module import time; the models area loads inside commands.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..progress import CancelToken
from .base import CliState, echo_json, terminal_progress


@click.group("model")
def model() -> None:
    """Choose the language model: the embedded one, a GGUF file, or an endpoint."""


@model.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_models(state: CliState, as_json: bool) -> None:
    """Show the configured model and the recommended downloads."""
    from ..models.download import CATALOGUE
    from ..models.llm import describe_configured_model

    sm = state.service()
    current = describe_configured_model(sm.settings, sm.home)
    rec = [{"name": e.name, "file": e.filename, "size_mb": e.size_mb, "url": e.url,
            "description": e.description, "licence": e.licence} for e in CATALOGUE]
    if as_json:
        echo_json({"configured": current, "recommended": rec})
        return
    status = "found" if current.get("found") else f"MISSING ({current.get('error')})"
    click.echo(f"configured: {current['name']} [{current['source']}] {status}")
    if not current.get("capable"):
        click.echo("            (the embedded model is tiny: memories and answers use the "
                   "deterministic extractors; download a capable model for better ones)")
    click.echo("recommended (secondme model download NAME --use):")
    for e in rec:
        click.echo(f"  {e['name']:<34} ~{e['size_mb']} MB  {e['description']}")


@model.command("download")
@click.argument("name_or_url")
@click.option("--sha256", help="Expected sha256 of the file (hex).")
@click.option("--use", "use_it", is_flag=True, help="Use the model once downloaded.")
@click.pass_obj
def download(state: CliState, name_or_url: str, sha256: str | None, use_it: bool) -> None:
    """Download a recommended model (by name) or any GGUF URL into the data dir.

    Resumes an interrupted download; verifies its checksum; Ctrl-C keeps what was
    downloaded so far.
    """
    from ..models.download import catalogue_entry, download_model

    sm = state.service()
    if name_or_url.startswith(("http://", "https://")):
        url, want = name_or_url, sha256
    else:
        entry = catalogue_entry(name_or_url)
        url, want = entry.url, sha256 or entry.sha256
    progress, done = terminal_progress()
    cancel = CancelToken()
    try:
        path = download_model(url, sm.home / "models", sha256=want, progress=progress,
                              cancel=cancel)
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    finally:
        done()
    click.echo(f"downloaded {path}")
    if use_it:
        _use_file(sm, path)


def _use_file(sm, path: Path) -> None:
    from ..models.llm import check_gguf

    path = check_gguf(Path(path).resolve())
    sm.update_settings(llm_source="gguf", llm_path=str(path))
    click.echo(f"now using {path.name}")


@model.command("use")
@click.argument("target")
@click.pass_obj
def use(state: CliState, target: str) -> None:
    """Use TARGET: a .gguf file, or "default" for the embedded model."""
    sm = state.service()
    if target == "default":
        sm.update_settings(llm_source="default")
        click.echo("now using the embedded default model")
        return
    _use_file(sm, Path(target).expanduser())


@model.command("endpoint")
@click.argument("url")
@click.option("--model", "model_name", required=True, help="The model name on the server.")
@click.option("--api-key-stdin", is_flag=True,
              help="Read an API key from standard input and keep it in the OS keyring.")
@click.pass_obj
def endpoint(state: CliState, url: str, model_name: str, api_key_stdin: bool) -> None:
    """Use an OpenAI-compatible server, e.g. http://localhost:11434/v1 (Ollama)."""
    from .. import secrets
    from ..models.llm import OpenAICompatLLM

    OpenAICompatLLM(url, model_name)  # validates the URL
    sm = state.service()
    if api_key_stdin:
        key = sys.stdin.readline().strip()
        if key:
            secrets.set_secret(sm.home, "llm_api_key", key)
        del key
    sm.update_settings(llm_source="openai", llm_endpoint=url, llm_endpoint_model=model_name)
    click.echo(f"now using {model_name} at {url}")
