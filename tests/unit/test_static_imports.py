"""The shell's modulepreload list: what app.js loads before it runs, read from the files (api/web)."""
from __future__ import annotations

from api.web import static_imports, static_version


def test_static_imports_follow_relative_imports_and_leave_dynamic_ones_out(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.js").write_text('import { a } from "./a.js";\nimport {\n  b,\n} from "./pages/b.js";\n'
                                     'const later = () => import("./pages/lazy.js");\n', encoding="utf-8")
    (tmp_path / "a.js").write_text('export { x } from "./x.js";\n', encoding="utf-8")
    (tmp_path / "x.js").write_text("export const x = 1;\n", encoding="utf-8")
    (tmp_path / "pages" / "b.js").write_text('import "../side.js";\nimport { a } from "../a.js";\n', encoding="utf-8")
    (tmp_path / "side.js").write_text("", encoding="utf-8")
    (tmp_path / "pages" / "lazy.js").write_text("", encoding="utf-8")
    assert static_imports("app.js", tmp_path) == ["a.js", "app.js", "pages/b.js", "side.js", "x.js"]


def test_the_static_version_changes_with_any_file(tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "lib.js").write_text("1", encoding="utf-8")
    first = static_version(tmp_path)
    assert static_version(tmp_path) == first and len(first) == 16
    (tmp_path / "vendor" / "lib.js").write_text("2", encoding="utf-8")
    assert static_version(tmp_path) != first
