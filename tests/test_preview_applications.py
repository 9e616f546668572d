"""`flipgen serve` keeps test applications in a throwaway database and lists them on its index."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.support.serve import Server

FIXTURE = Path(__file__).parent / "fixtures" / "applications"


def post(server: Server, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    status, _, data = server.request(
        "POST",
        path,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Host": f"127.0.0.1:{server.port}"},
    )
    return status, json.loads(data)


def test_preview_lists_the_latest_applications_with_their_answers(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    server = Server(project)
    try:
        status, _, page = server.get("/")
        assert status == 200 and b"Latest test applications" in page and b"None yet" in page
        status, started = post(server, "/api/applications", {"site": "rules", "params": {"ref": "ABC"}})
        assert status == 201, started
        handle = started["handle"]
        answers = {"name": "Ada", "email": "ada@example.com", "kind": "gig", "consent": True, "notes": "<b>bold</b>"}
        status, saved = post(
            server, f"/api/applications/{handle}/answers", {"site": "rules", "screen": "basics", "answers": answers}
        )
        assert status == 200, saved
        status, _, page = server.get("/")
        text = page.decode()
        assert "rules" in text and "started" in text and "params ref=ABC" in text
        assert re.search(r"<dt>Email</dt><dd>ada@example.com</dd>", text), "answers under their labels"
        assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text, "answers are text, never HTML"
        status, done = post(
            server,
            f"/api/applications/{handle}/submit",
            {"site": "rules", "answers": {**answers, "platform": "Upwork"}},
        )
        assert status == 200, done
        assert b"submitted" in server.get("/")[2]
        assert not (project / ".flipgen").exists(), "the preview never writes the project's own database"
    finally:
        server.stop()
