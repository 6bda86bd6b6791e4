from __future__ import annotations

import json
import platform
import sys

import click
from flask import Flask

from .. import benchmarks


@click.command("bench")
@click.option("--only", default="", help="Comma-separated stage names (default: all). See --list.")
@click.option("--repeat", default=30, show_default=True, help="Timed runs per figure.")
@click.option("--list", "list_only", is_flag=True, help="List the stages and exit.")
def bench(only: str, repeat: int, list_only: bool) -> None:
    """Measure each stage on this machine; prints one JSON object (median ms, fps)."""
    stages = benchmarks.discover()
    if list_only:
        click.echo("\n".join(sorted(stages)))
        return
    wanted = [s.strip() for s in only.split(",") if s.strip()] or sorted(stages)
    unknown = [s for s in wanted if s not in stages]
    if unknown:
        raise click.BadParameter(f"unknown stage(s): {', '.join(unknown)}; known: {', '.join(sorted(stages))}")
    context = benchmarks.BenchContext(repeat=repeat)
    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(), "repeat": repeat}
    }
    for name in wanted:
        click.echo(f"bench: {name} ...", err=True)
        results[name] = stages[name](context)
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


def register(app: Flask) -> None:
    app.cli.add_command(bench)
