"""Export never destroys a file: a manifest of what it wrote, the user's files refused, hand edits kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import pytest
from IPython.core.error import UsageError

from rp_jupyter.exceptions import ExportError
from rp_jupyter.exporter import MANIFEST, Export, build_export, drift, expand_path, write_export

from . import cases
from .conftest import cells

HANDLER = ("%%rp_handler echo\nimport runpod\n\n\ndef handler(job):\n    return {{'echo': job['input'], 'v': {}}}"
           "\n\n\nrunpod.serverless.start({{'handler': handler}})")


def tokens(scale: int = 2) -> Export:
    raw = [cell.replace("scale: 2", f"scale: {scale}") for cell in cases.TOKENS_CELLS]
    return build_export(cases.TOKENS, cells(raw), cases.CPU_ENV, request=cases.REQUEST)


def test_the_result_lists_created_updated_and_unchanged_files_and_a_manifest_records_them(tmp_path: Path) -> None:
    first = write_export(tokens(), str(tmp_path))
    assert first.written is not None and first.written.created == sorted(first.files)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["handler"] == "tokens" and sorted(manifest["files"]) == sorted(first.files)
    second = write_export(tokens(scale=3), str(tmp_path))  # only handler.py's CONFIG line changes
    assert second.written is not None
    assert second.written.updated == ["handler.py"] and "handler.py" not in second.written.unchanged
    assert second.written.created == [] and len(second.written.unchanged) == len(first.files) - 1
    assert "updated: handler.py" in repr(second) and "unchanged: .dockerignore, Dockerfile" in repr(second)
    assert "scale: 3" in (tmp_path / "handler.py").read_text()


def test_files_export_did_not_write_stop_it_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# my project\n")
    (tmp_path / "test_input.json").write_text('{"input": {"mine": true}}\n')
    with pytest.raises(ExportError) as caught:
        write_export(tokens(), str(tmp_path))
    message = str(caught.value)
    assert "did not write: README.md, test_input.json; nothing was written" in message and "--force" in message
    assert "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "test_input.json"]
    assert (tmp_path / "README.md").read_text() == "# my project\n"


def test_force_replaces_the_users_files_keeping_each_as_bak_and_never_an_older_bak(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# my project\n")
    (tmp_path / "README.md.bak").write_text("an older backup of mine\n")
    result = write_export(tokens(), str(tmp_path), force=True)
    assert result.written is not None and result.written.backups == {"README.md": "README.md.bak.1"}
    assert (tmp_path / "README.md.bak.1").read_text() == "# my project\n"
    assert (tmp_path / "README.md.bak").read_text() == "an older backup of mine\n"
    assert (tmp_path / "README.md").read_text() == result.files["README.md"]
    assert "replaced README.md (--force), the old one kept as README.md.bak.1" in repr(result)


def test_a_file_identical_to_what_export_writes_is_not_a_conflict(tmp_path: Path) -> None:
    export = tokens()
    (tmp_path / "Dockerfile").write_text(export.files["Dockerfile"])
    result = write_export(export, str(tmp_path))
    assert result.written is not None and result.written.unchanged == ["Dockerfile"]


def test_a_generated_file_edited_by_hand_is_kept_and_shown_as_a_diff(tmp_path: Path) -> None:
    write_export(tokens(), str(tmp_path))
    readme = tmp_path / "README.md"
    edited = readme.read_text() + "\n## Notes of mine\nkeep me\n"
    readme.write_text(edited)
    again = write_export(tokens(scale=3), str(tmp_path))
    assert again.written is not None and list(again.written.kept) == ["README.md"]
    assert "-## Notes of mine" in again.written.kept["README.md"]  # what export would write now drops them
    assert readme.read_text() == edited and again.written.updated == ["handler.py"]
    assert "kept README.md: edited by hand since the last export" in repr(again)
    still = write_export(tokens(scale=3), str(tmp_path))  # the manifest still knows it was edited
    assert still.written is not None and list(still.written.kept) == ["README.md"]
    found = drift(still, str(tmp_path))
    assert found.reasons == {"README.md": "edited by hand"}
    forced = write_export(tokens(scale=3), str(tmp_path), force=True)
    assert forced.written is not None and forced.written.backups == {"README.md": "README.md.bak"}
    assert (tmp_path / "README.md.bak").read_text() == edited and drift(forced, str(tmp_path)).ok


def test_check_tells_out_of_date_from_edited_and_missing(tmp_path: Path) -> None:
    write_export(tokens(), str(tmp_path))
    (tmp_path / "Dockerfile").unlink()
    found = drift(tokens(scale=3), str(tmp_path))
    assert found.reasons == {"Dockerfile": "missing", "handler.py": "out of date"}
    assert "handler.py (out of date)" in repr(found)


def test_another_handlers_folder_is_refused_without_force(tmp_path: Path) -> None:
    write_export(tokens(), str(tmp_path))
    gpu = build_export(cases.GPU, cells(cases.GPU_CELLS), cases.GPU_ENV)
    with pytest.raises(ExportError, match="holds the export of handler 'tokens'"):
        write_export(gpu, str(tmp_path))
    assert write_export(gpu, str(tmp_path), force=True).written is not None


def test_home_and_environment_variables_expand_and_an_unset_one_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WORKERS", str(tmp_path / "w"))
    monkeypatch.delenv("RP_NOT_SET", raising=False)
    assert expand_path("~/x") == str(tmp_path / "x")
    assert expand_path("$WORKERS/tokens") == expand_path("${WORKERS}/tokens") == str(tmp_path / "w" / "tokens")
    with pytest.raises(ExportError, match=r"\$RP_NOT_SET, which is not set"):
        expand_path("$RP_NOT_SET/tokens")


def test_the_magic_expands_out_refuses_user_files_and_check_of_a_missing_folder_says_so(
        shell: Shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    shell.run(HANDLER.format(1))
    shell.run('%rp_run echo {"input": {"a": 1}} --sync')
    shell.run("%rp_export echo --out ~/w")
    assert (tmp_path / "home" / "w" / "handler.py").exists() and not Path("~").exists()
    Path("test_input.json").write_text('{"input": {"mine": 1}}\n')  # what a bare %rp_run echo sends
    error = shell.fails("%rp_export echo --out .")
    assert isinstance(error, UsageError) and "did not write: test_input.json" in str(error)
    assert Path("test_input.json").read_text() == '{"input": {"mine": 1}}\n' and not Path("handler.py").exists()
    shell.run("%rp_export echo --out . --force")
    assert Path("test_input.json.bak").read_text() == '{"input": {"mine": 1}}\n'
    error = shell.fails("%rp_export echo --check nowhere")
    assert isinstance(error, UsageError) and str(error).startswith("nowhere does not exist: nothing to check")


def test_a_folder_where_a_file_goes_stops_export_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "handler.py").mkdir()
    for force in (False, True):
        with pytest.raises(ExportError, match=r"has folders .* where export writes files: handler\.py; nothing was written"):
            write_export(tokens(), str(tmp_path), force=force)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handler.py"]
    (tmp_path / "handler.py").rmdir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ExportError, match="it is a file, not a folder"):
        write_export(tokens(), str(tmp_path / "file"))


def test_a_manifest_that_cannot_be_read_counts_no_file_as_exported(tmp_path: Path) -> None:
    write_export(tokens(), str(tmp_path))
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(ExportError, match=r"did not write: handler\.py"):  # the notebook changed: refused, safely
        write_export(tokens(scale=3), str(tmp_path))
    again = write_export(tokens(), str(tmp_path))  # identical files are not a conflict: adopted again
    assert again.written is not None and len(again.written.unchanged) == len(again.files)
    assert json.loads((tmp_path / MANIFEST).read_text())["handler"] == "tokens"
