"""A local stand-in for the Hub's upload API: records every call and keeps the files a commit uploads.

It answers what ``HfApi.create_repo``, ``create_branch``, ``upload_folder`` and transformers' ``push_to_hub`` ask
(preupload says "regular" for every file, so contents come inline, base64, in the commit's NDJSON body).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self, refuse_commits: bool = False) -> None:
        self.refuse_commits = refuse_commits  # answer commits 403, as the Hub does for a token that may not write
        self.calls: list[dict] = []
        self.files: dict[str, dict[str, bytes]] = {}  # repo id -> path -> content
        self.commits: list[dict] = []
        self.repo_types: dict[str, tuple[str, str | None]] = {}  # repo id -> (model | space | dataset, Space SDK)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                return None

            def _answer(self, status: int, body: dict | list) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> bytes:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.calls.append({"method": self.command, "path": self.path, "authorization": self.headers.get("Authorization"), "body": body})
                return body

            def do_GET(self) -> None:
                self._record()
                self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self._record()
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    request = json.loads(body)
                    repo = f"{request.get('organization') or 'user'}/{request['name']}" if "/" not in request["name"] else request["name"]
                    hub.files.setdefault(repo, {})
                    hub.repo_types[repo] = (request.get("type") or "model", request.get("sdk"))
                    return self._answer(200, {"url": f"{hub.url}/{repo}", "name": repo})
                if parts == ["api", "validate-yaml"]:  # the card's metadata, checked before a commit that holds README.md
                    return self._answer(200, {"errors": [], "warnings": []})
                if parts[:2] == ["api", "spaces"]:  # a Space is a repo like a model's: same answers, own kind
                    parts[1] = "models"
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self._answer(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "commit":
                    if hub.refuse_commits:
                        return self._answer(403, {"error": "You don't have the rights to create a model under this namespace"})
                    return self._commit(f"{parts[2]}/{parts[3]}", body)
                if parts[:2] == ["api", "models"] and len(parts) >= 5 and parts[4] == "branch":
                    return self._answer(200, {})
                self._answer(404, {"error": f"unknown endpoint {self.path}"})

            def _commit(self, repo: str, body: bytes) -> None:
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                header = next(line["value"] for line in lines if line["key"] == "header")
                for line in lines:
                    if line["key"] == "file":
                        hub.files.setdefault(repo, {})[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                hub.commits.append({"repo": repo, "summary": header.get("summary"), "path": self.path})
                self._answer(200, {"commitUrl": f"{hub.url}/{repo}/commit/0123abcd", "commitOid": "0123abcd" * 5})

        return Handler
