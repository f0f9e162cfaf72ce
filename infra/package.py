"""``make package``: the deployable SAM template of one stage, merged and linted.

    python -m infra.package [--stage dev]

1. ``chalice package`` without a merge template, into a scratch directory, only to learn which
   functions and roles this version of the app has (nothing here hardcodes that list);
2. ``infra.generate.build_fragment`` for them, written to ``build/<stage>-merge.json``;
3. ``chalice package --merge-template`` into ``build/<stage>/`` (``sam.json`` + ``deployment.zip``),
   the zip rewritten without what the Lambda runtime provides and with each module's bytecode
   (``finish_zip``);
4. a check that the merge kept Chalice's environment variables, then ``cfn-lint``: errors fail;
5. checkov (its own virtualenv, ``.venv-checkov``: its pins clash with ours): any finding fails,
   unless the resource skips that check with a reason (``infra/hardening.py``).

Chalice builds Linux wheels for requirements.txt itself (``pip download --platform``) and caches
the result in ``.chalice/deployments/``, so only the first run needs the package index.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra import generate

BUILD_DIR = generate.REPO_ROOT / "build"
Json = dict[str, Any]
DEFAULT_REGION = "us-east-1"  # chalice needs one to package; the template itself is Region-free


# The Lambda Python runtime provides boto3 and botocore (and s3transfer); pynamodb pulls botocore
# into the zip, where it would be two thirds of its size. No pinned version is needed: pynamodb asks
# for botocore >= 1.12.54. (Their own dependencies - jmespath, dateutil, urllib3 - stay: small, and
# Powertools imports jmespath itself.)
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
MAX_ZIP_BYTES = 10 * 1024 * 1024


class PackagingError(RuntimeError):
    """``chalice package`` failed, or its output is not what kefu needs."""


def _chalice_command() -> list[str]:
    """The chalice CLI of this interpreter's environment (the venv's), not whatever is on PATH."""
    local = Path(sys.executable).parent / "chalice"
    if local.exists():
        return [str(local)]
    found = shutil.which("chalice")
    if found is None:
        raise PackagingError("the chalice CLI is not installed (make install)")
    return [found]


def chalice_package(stage: str, out_dir: Path, project_dir: Path,
                    merge_template: Path | None = None) -> Json:
    """Run ``chalice package`` into ``out_dir`` (replaced) and return the template it wrote."""
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [*_chalice_command(), "--project-dir", str(project_dir), "package", "--stage", stage]
    if merge_template is not None:
        command += ["--merge-template", str(merge_template)]
    command.append(str(out_dir))
    env = {**os.environ}
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", DEFAULT_REGION))
    result = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True,
                            check=False)
    template_path = out_dir / "sam.json"
    if result.returncode != 0 or not template_path.exists():
        raise PackagingError(f"chalice package failed ({result.returncode}):\n"
                             f"{result.stdout}{result.stderr}".strip())
    return json.loads(template_path.read_text())


def environment_problems(base: Json, merged: Json, fragment: Json) -> list[str]:
    """Functions whose merged environment lost a Chalice variable or lacks one the fragment adds."""
    problems = []
    for function in generate.resources_of_type(base, generate.FUNCTION_TYPE):
        merged_function = merged["Resources"].get(function, {})
        have = merged_function.get("Properties", {}).get("Environment", {}).get("Variables", {})
        chalice_vars = base["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        added = fragment["Resources"].get(function, {}).get("Properties", {}).get(
            "Environment", {}).get("Variables", {})
        for name, value in {**chalice_vars, **added}.items():
            if have.get(name) != value:
                problems.append(f"{function}: {name} is {have.get(name)!r}, expected {value!r}")
    return problems


def package(stage: str, build_dir: Path = BUILD_DIR,
            project_dir: Path = generate.REPO_ROOT) -> Path:
    """Package ``stage`` into ``build_dir/<stage>/``; returns the merged ``sam.json``."""
    settings = generate.stage_settings(stage, project_dir / ".chalice" / "config.json")
    with tempfile.TemporaryDirectory(prefix="kefu-package-") as scratch:
        base = chalice_package(stage, Path(scratch) / stage, project_dir)
    fragment = generate.build_fragment(settings, base)
    fragment_path = build_dir / f"{stage}-merge.json"
    generate.write_json(fragment_path, fragment)
    out_dir = build_dir / stage
    merged = chalice_package(stage, out_dir, project_dir, merge_template=fragment_path)
    problems = environment_problems(base, merged, fragment)
    if problems:
        raise PackagingError("the merge lost environment variables:\n" + "\n".join(problems))
    finish_zip(out_dir / "deployment.zip")
    return out_dir / "sam.json"


def _runtime_provided(name: str) -> bool:
    """A zip entry of a package the runtime provides (its folder or its ``.dist-info``)."""
    top = name.split("/", 1)[0]
    return any(top == package or (top.startswith(f"{package}-") and top.endswith(".dist-info"))
               for package in RUNTIME_PROVIDED)


def bytecode(source: bytes, path: str) -> bytes | None:
    """``source`` as an unchecked-hash ``.pyc`` (PEP 552) for this interpreter, which is the
    Lambda runtime's version (Chalice packages for the Python it runs on); None for a file that is
    not Python this version compiles. Unchecked: Lambda unpacks the zip with whatever mtimes, and
    nothing there changes the sources."""
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little") + importlib.util.source_hash(source) \
        + marshal.dumps(code)


def finish_zip(zip_path: Path) -> int:
    """Rewrite ``zip_path`` without what the runtime provides and with each module's bytecode;
    returns its size in bytes, and refuses a zip above ``MAX_ZIP_BYTES``.

    The bytecode: ``/var/task`` is read-only, so without ``__pycache__`` in the zip every cold start
    compiles every module it imports from source (kefu, Pydantic, PynamoDB, Powertools: importing
    the app took twice as long, ~520 ms instead of ~260, measured on the unpacked zip)."""
    finished = zip_path.with_suffix(".finished.zip")
    with zipfile.ZipFile(zip_path) as source, \
            zipfile.ZipFile(finished, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for entry in source.infolist():
            if _runtime_provided(entry.filename) or "__pycache__/" in entry.filename:
                continue  # a development tree's own bytecode (Chalice copies chalicelib whole) is replaced
            data = source.read(entry)
            target.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
            compiled = bytecode(data, entry.filename) if entry.filename.endswith(".py") else None
            if compiled is not None:
                cached = zipfile.ZipInfo(importlib.util.cache_from_source(entry.filename), entry.date_time)
                cached.external_attr = 0o644 << 16
                target.writestr(cached, compiled, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    finished.replace(zip_path)
    size = zip_path.stat().st_size
    if size > MAX_ZIP_BYTES:
        raise PackagingError(f"{zip_path} is {size / 2**20:.1f} MB, above {MAX_ZIP_BYTES / 2**20:.0f} MB")
    return size


def lint(template_path: Path, region: str | None = None) -> list[Any]:
    """cfn-lint matches for the template (SAM is transformed first), every severity."""
    from cfnlint.api import lint_file
    from cfnlint.config import ManualArgs

    regions = [region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION]
    return lint_file(template_path, config=ManualArgs(regions=regions))


def lint_errors(matches: Iterable[Any]) -> list[Any]:
    return [m for m in matches if m.rule.severity == "error"]


CHECKOV_VENV = generate.REPO_ROOT / ".venv-checkov"


def checkov_command() -> list[str]:
    """The checkov CLI: ``KEFU_CHECKOV``, else ``.venv-checkov`` (``make checkov`` creates it)."""
    explicit = os.environ.get("KEFU_CHECKOV")
    path = Path(explicit) if explicit else CHECKOV_VENV / "bin" / "checkov"
    if not path.exists():
        raise PackagingError(f"checkov is not installed at {path}: run `make checkov`")
    return [str(path)]


def scan(template_path: Path) -> dict[str, Any]:
    """checkov's report on the template: ``summary`` and ``failed`` (check id, resource, name)."""
    command = [*checkov_command(), "--framework", "cloudformation", "--file", str(template_path),
               "--output", "json", "--quiet", "--compact", "--skip-download"]
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    try:
        report = json.loads(result.stdout)
    except ValueError as e:
        raise PackagingError(f"checkov failed ({result.returncode}):\n{result.stdout}{result.stderr}") from e
    reports = report if isinstance(report, list) else [report]
    summary: dict[str, int] = {}
    failed = []
    for one in reports:
        for key, value in one.get("summary", {}).items():
            if isinstance(value, int):
                summary[key] = summary.get(key, 0) + value
        failed += [(f["check_id"], f["resource"], f["check_name"])
                   for f in one.get("results", {}).get("failed_checks", [])]
    return {"summary": summary, "failed": failed}


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package",
                                     description="Package one stage into build/<stage>/ and lint it.")
    parser.add_argument("--stage", default="dev", choices=generate.configured_stages())
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        template_path = package(args.stage, args.build_dir)
    except PackagingError as e:
        print(e, file=sys.stderr)
        return 1
    matches = lint(template_path)
    for match in matches:
        print(f"cfn-lint {match.rule.severity}: {match}", file=sys.stderr)
    if lint_errors(matches):
        return 1
    try:
        scanned = scan(template_path)
    except PackagingError as e:
        print(e, file=sys.stderr)
        return 1
    for check, resource, name in scanned["failed"]:
        print(f"checkov {check} {resource}: {name}", file=sys.stderr)
    counts = scanned["summary"]
    print(f"checkov: {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
          f"{counts.get('skipped', 0)} skipped with a reason")
    if scanned["failed"]:
        print("fix them, or skip each in infra/hardening.py with its reason", file=sys.stderr)
        return 1
    code = template_path.parent / "deployment.zip"
    print(f"packaged {args.stage}: {template_path} and {code} ({code.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
