"""A small Hugging Face Hub-compatible HTTP server for the tests (stdlib only).

It speaks the part of the Hub's wire protocol that the real ``huggingface_hub`` client uses for
pull, push and search (see ../shared/FACTS.md, "Testing against the Hub without the Hub"):
repos with commits, branches, tags and pull-request refs; "regular" and LFS uploads; tree,
refs, model info and model listing with Link pagination; resolve downloads with the headers the
client's cache needs; errors with ``X-Error-Code``. It is a fixture for the real client, not a
mock of our code, so the tests exercise the same requests the real Hub would receive.

Test hooks: ``HubState.requests`` records every request (to prove that nothing was transferred),
``HubState.faults`` makes chosen downloads fail (dropped mid-file, or an HTTP status), and
``HubState.reset()`` gives each test a clean Hub.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

TEST_USER = "hubcli-tester"
TEST_TOKEN = "hf_hubclitesttoken0000000000000000"
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".onnx", ".msgpack")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES)
ADAPTER_LIBRARIES = ("peft", "adapter-transformers")
SHA1 = re.compile(r"^[0-9a-f]{40}$")


def git_blob_oid(content: bytes) -> str:
    """The git object id of a file (what the Hub calls ``oid`` / ``blobId``)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StoredFile:
    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def oid(self) -> str:
        """The git oid: of the content for regular files, of the pointer for LFS files."""
        if self.lfs:
            return git_blob_oid(lfs_pointer(self.sha256, len(self.content)))
        return git_blob_oid(self.content)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.oid


@dataclass
class Commit:
    sha: str
    files: dict[str, StoredFile]
    message: str
    parent: str | None
    date: str = field(default_factory=_now)


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)
    downloads: int = 0
    likes: int = 0

    def resolve(self, revision: str) -> str | None:
        """Commit sha of a branch, tag, ``refs/pr/N`` or full sha; None if unknown."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        if match := re.fullmatch(r"refs/pr/(\d+)", revision):
            return self.pull_requests.get(int(match[1]))
        if SHA1.match(revision) and revision in self.commits:
            return revision
        return None

    def head(self) -> Commit:
        return self.commits[self.branches["main"]]


@dataclass
class Fault:
    """Make the next ``times`` requests with this ``method`` whose path ends with ``path`` fail:
    with ``drop_after`` set, send that many bytes of the answer's body, then close the
    connection; otherwise answer HTTP ``status`` (quoting the request's Authorization header in
    the error with ``echo_credentials``)."""

    path: str
    times: int = 1
    drop_after: int | None = None
    status: int = 500
    method: str = "GET"
    echo_credentials: bool = False  # a careless server: the error quotes the request's headers


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    range: str | None
    status: int = 0


class HubState:
    """Everything the server knows; guarded by one lock because handlers run in threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.repos: dict[str, Repo] = {}
            self.lfs_objects: dict[str, bytes] = {}
            self.requests: list[RequestRecord] = []
            self.faults: list[Fault] = []
            self.page_size = 1000
            self._counter = 0

    def count(self, method: str | None = None, contains: str = "") -> int:
        """How many recorded requests match ``method`` and contain ``contains`` in the path."""
        with self.lock:
            return sum(
                1 for r in self.requests if (method is None or r.method == method) and contains in r.path
            )

    def new_sha(self, seed: str) -> str:
        with self.lock:
            self._counter += 1
            return hashlib.sha1(f"{seed}\0{self._counter}\0{time.time_ns()}".encode()).hexdigest()

    def create_repo(self, repo_id: str, private: bool = False) -> Repo:
        """A repo with its initial commit (``.gitattributes``), as the Hub makes it."""
        with self.lock:
            repo = Repo(repo_id=repo_id, private=private)
            first = Commit(
                sha=self.new_sha(repo_id),
                files={".gitattributes": StoredFile(GITATTRIBUTES.encode(), lfs=False)},
                message="initial commit",
                parent=None,
            )
            repo.commits[first.sha] = first
            repo.branches["main"] = first.sha
            self.repos[repo_id] = repo
            return repo

    def commit(
        self, repo: Repo, ref: str, files: dict[str, StoredFile], deleted: set[str], message: str
    ) -> Commit:
        """Apply a commit on top of ``ref`` (a branch, or ``refs/pr/N``) and move the ref."""
        with self.lock:
            parent = repo.commits[repo.resolve(ref)]
            content = {
                p: f
                for p, f in parent.files.items()
                if p not in deleted and not any(p.startswith(d.rstrip("/") + "/") for d in deleted)
            }
            content.update(files)
            new = Commit(sha=self.new_sha(repo.repo_id), files=content, message=message, parent=parent.sha)
            repo.commits[new.sha] = new
            if match := re.fullmatch(r"refs/pr/(\d+)", ref):
                repo.pull_requests[int(match[1])] = new.sha
            else:
                repo.branches[ref] = new.sha
            return new


def card_data(commit: Commit) -> dict[str, Any] | None:
    """The YAML front matter of README.md, as the Hub exposes it in ``cardData``."""
    readme = commit.files.get("README.md")
    if readme is None:
        return None
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", readme.content.decode("utf-8", "replace"), re.S)
    if not match:
        return None
    data = yaml.safe_load(match[1])
    return data if isinstance(data, dict) else None


def model_tags(commit: Commit) -> tuple[list[str], str | None]:
    """Tags and library as the Hub derives them from the card and the files."""
    data = card_data(commit) or {}
    tags = [str(t) for t in data.get("tags") or []]
    library = data.get("library_name")
    extra = []
    if library:
        extra.append(str(library))
    if any(p.endswith(".safetensors") for p in commit.files):
        extra.append("safetensors")
    bases = data.get("base_model") or []
    for base in [bases] if isinstance(bases, str) else bases:
        extra.append(f"base_model:{base}")
        if library in ADAPTER_LIBRARIES:
            extra.append(f"base_model:adapter:{base}")
    if data.get("license"):
        extra.append(f"license:{data['license']}")
    for tag in extra:
        if tag not in tags:
            tags.append(tag)
    return tags, library


class HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: 44 ms -> ~2 ms per request
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr log; ``HubState.requests`` records what tests need."""

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> Any:
        return json.loads(self._body() or b"{}")

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer; an armed drop fault promises the whole body, sends part of it and hangs up."""
        self._record.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if self._fault is not None and self._fault.drop_after is not None:
            self.wfile.write(body[: self._fault.drop_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _token_ok(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {TEST_TOKEN}"

    def _require_token(self) -> None:
        if not self._token_ok():
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, repo_id: str) -> Repo:
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and not self._token_ok()):
            status = 401 if not self._token_ok() else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def _commit_of(self, repo: Repo, revision: str) -> Commit:
        sha = repo.resolve(revision)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[sha]

    # -- dispatch ---------------------------------------------------------------------------

    ROUTES: list[tuple[str, re.Pattern[str], str]] = [
        ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
        ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
        ("GET", re.compile(r"^/api/models$"), "list_models"),
        ("POST", re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)$"), "preupload"),
        ("POST", re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)$"), "commit"),
        (
            "GET",
            re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"),
            "tree",
        ),
        ("GET", re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/refs$"), "refs"),
        (
            "POST",
            re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/branch/(?P<branch>[^/]+)$"),
            "create_branch",
        ),
        ("POST", re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tag/(?P<rev>[^/]+)$"), "create_tag"),
        ("GET", re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$"), "model_info"),
        ("GET", re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)$"), "model_info"),
        ("POST", re.compile(r"^/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch$"), "lfs_batch"),
        ("PUT", re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$"), "lfs_put"),
        ("POST", re.compile(r"^/lfs-verify/(?P<oid>[0-9a-f]{64})$"), "lfs_verify"),
        ("GET", re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
        ("HEAD", re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ]

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self._record = RequestRecord(self.command, unquote(url.path), query, self.headers.get("Range"))
        with self.state.lock:
            self.state.requests.append(self._record)
        self._fault = self._take_fault(self._record.path)
        try:
            if self._fault is not None and self._fault.drop_after is None:
                said = f" (you sent Authorization: {self.headers.get('Authorization')})"
                raise HubError(
                    self._fault.status, "injected failure" + (said if self._fault.echo_credentials else "")
                )
            for method, pattern, name in self.ROUTES:
                if method == self.command and (match := pattern.match(url.path)):
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    getattr(self, f"do_{name}")(query=query, **params)
                    return
            raise HubError(404, f"no route for {self.command} {url.path}")
        except HubError as exc:
            headers = {"X-Error-Code": exc.code} if exc.code else {}
            headers.update(exc.headers)
            headers["X-Error-Message"] = exc.message
            self._send_json(exc.status, {"error": exc.message}, headers)

    do_GET = do_POST = do_PUT = do_HEAD = _dispatch

    # -- repos and commits ------------------------------------------------------------------

    def do_create_repo(self, query: dict) -> None:
        self._require_token()
        data = self._json_body()
        if data.get("type", "model") != "model":
            raise HubError(400, "this test Hub serves model repos only")
        repo_id = f"{data.get('organization') or TEST_USER}/{data['name']}"
        url = f"{self.endpoint}/{repo_id}"
        if repo_id in self.state.repos:
            self._send_json(409, {"error": "You already created this model repo", "url": url})
            return
        self.state.create_repo(
            repo_id, private=data.get("visibility") == "private" or bool(data.get("private"))
        )
        self._send_json(200, {"url": url, "name": repo_id})

    def do_validate_yaml(self, query: dict) -> None:
        self._json_body()
        self._send_json(200, {"errors": [], "warnings": []})

    def do_preupload(self, query: dict, repo: str, rev: str) -> None:
        self._require_token()
        target = self._repo(repo)
        head = target.commits.get(target.resolve(rev) or "") if "create_pr" not in query else None
        files = []
        for item in self._json_body()["files"]:
            existing = head.files.get(item["path"]) if head else None
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs"
                    if item["path"].endswith(LFS_SUFFIXES) and item["size"]
                    else "regular",
                    "shouldIgnore": False,
                    "oid": existing.oid
                    if existing and not existing.lfs
                    else (existing.sha256 if existing else None),
                }
            )
        self._send_json(200, {"files": files})

    def do_commit(self, query: dict, repo: str, rev: str) -> None:
        self._require_token()
        target = self._repo(repo)
        if target.resolve(rev) is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        added: dict[str, StoredFile] = {}
        deleted: set[str] = set()
        for line in lines:
            value = line["value"]
            if line["key"] == "file":
                added[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif line["key"] == "lfsFile":
                content = self.state.lfs_objects.get(value["oid"])
                if content is None:
                    raise HubError(400, f"LFS object {value['oid']} was never uploaded")
                added[value["path"]] = StoredFile(content, lfs=True)
            elif line["key"] in ("deletedFile", "deletedFolder"):
                deleted.add(value["path"])
        ref = rev
        pr_url = None
        if query.get("create_pr"):
            number = max([0, *target.pull_requests]) + 1
            target.pull_requests[number] = target.resolve(rev)
            ref = f"refs/pr/{number}"
            pr_url = f"{self.endpoint}/{repo}/discussions/{number}"
        elif rev not in target.branches and not rev.startswith("refs/pr/"):
            raise HubError(400, f"cannot commit to {rev}: not a branch")
        new = self.state.commit(target, ref, added, deleted, header.get("summary", ""))
        self._send_json(
            200,
            {
                "commitOid": new.sha,
                "commitUrl": f"{self.endpoint}/{repo}/commit/{new.sha}",
                "pullRequestUrl": pr_url,
            },
        )

    def do_create_branch(self, query: dict, repo: str, branch: str) -> None:
        self._require_token()
        target = self._repo(repo)
        start = self._commit_of(target, self._json_body().get("startingPoint") or "main")
        with self.state.lock:
            if branch in target.branches:
                raise HubError(409, f"branch {branch} already exists")
            target.branches[branch] = start.sha
        self._send_json(200, {})

    def do_create_tag(self, query: dict, repo: str, rev: str) -> None:
        self._require_token()
        target = self._repo(repo)
        commit = self._commit_of(target, rev)
        tag = self._json_body()["tag"]
        with self.state.lock:
            if tag in target.tags:
                raise HubError(409, f"tag {tag} already exists")
            target.tags[tag] = commit.sha
        self._send_json(200, {})

    # -- LFS ----------------------------------------------------------------------------------

    def do_lfs_batch(self, query: dict, repo: str) -> None:
        self._require_token()
        self._repo(repo)
        objects = []
        for obj in self._json_body()["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{obj['oid']}"},
                    "verify": {"href": f"{self.endpoint}/lfs-verify/{obj['oid']}"},
                }
            objects.append(entry)
        self._send_json(200, {"transfer": "basic", "objects": objects})

    def do_lfs_put(self, query: dict, oid: str) -> None:
        content = self._body()
        if hashlib.sha256(content).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its oid")
        with self.state.lock:
            self.state.lfs_objects[oid] = content
        self._send(200)

    def do_lfs_verify(self, query: dict, oid: str) -> None:
        self._require_token()
        data = self._json_body()
        content = self.state.lfs_objects.get(oid)
        if content is None or len(content) != data.get("size"):
            raise HubError(404, f"LFS object {oid} not found")
        self._send_json(200, {})

    # -- reading ------------------------------------------------------------------------------

    def _model_json(self, repo: Repo, commit: Commit, *, siblings: bool, card: bool) -> dict[str, Any]:
        tags, library = model_tags(commit)
        data: dict[str, Any] = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": tags,
            "library_name": library,
            "createdAt": repo.created_at,
            "lastModified": commit.date,
        }
        if card:
            data["cardData"] = card_data(commit)
        if siblings:
            data["siblings"] = [
                {
                    "rfilename": path,
                    "size": len(f.content),
                    "blobId": f.oid,
                    **(
                        {
                            "lfs": {
                                "sha256": f.sha256,
                                "size": len(f.content),
                                "pointerSize": len(lfs_pointer(f.sha256, len(f.content))),
                            }
                        }
                        if f.lfs
                        else {}
                    ),
                }
                for path, f in sorted(commit.files.items())
            ]
        return data

    def do_model_info(self, query: dict, repo: str, rev: str = "main") -> None:
        target = self._repo(repo)
        commit = self._commit_of(target, rev)
        self._send_json(200, self._model_json(target, commit, siblings=True, card=True))

    def do_list_models(self, query: dict) -> None:
        search = (query.get("search") or [""])[0].lower()
        author = (query.get("author") or [None])[0]
        filters = query.get("filter") or []
        limit = int((query.get("limit") or ["0"])[0]) or None
        cursor = int((query.get("cursor") or ["0"])[0])
        full = bool(query.get("full"))
        card = bool(query.get("cardData")) or full or "cardData" in (query.get("expand") or [])
        sort = (query.get("sort") or [None])[0]
        with self.state.lock:
            repos = [r for r in self.state.repos.values() if not r.private or self._token_ok()]
        matches = []
        for repo in repos:
            head = repo.head()
            tags, library = model_tags(head)
            if search and search not in repo.repo_id.lower():
                continue
            if author and repo.repo_id.split("/")[0] != author:
                continue
            if any(f not in tags and f != library for f in filters):
                continue
            matches.append((repo, head))
        if sort in ("downloads", "likes"):
            matches.sort(key=lambda rh: getattr(rh[0], sort), reverse=True)
        elif sort == "lastModified":
            matches.sort(key=lambda rh: rh[1].date, reverse=True)
        else:
            matches.sort(key=lambda rh: rh[0].repo_id)
        page_size = min(limit or self.state.page_size, self.state.page_size)
        page = matches[cursor : cursor + page_size]
        headers = {}
        if cursor + page_size < len(matches):
            rest = {k: v for k, v in query.items() if k != "cursor"}
            pairs = [f"{k}={quote(x)}" for k, vs in rest.items() for x in vs]
            pairs.append(f"cursor={cursor + page_size}")
            headers["Link"] = f'<{self.endpoint}/api/models?{"&".join(pairs)}>; rel="next"'
        self._send_json(200, [self._model_json(r, h, siblings=full, card=card) for r, h in page], headers)

    def do_tree(self, query: dict, repo: str, rev: str, path: str = "") -> None:
        commit = self._commit_of(self._repo(repo), rev)
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for file_path, stored in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix) :]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(
                        folder,
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            "size": 0,
                            "path": folder,
                        },
                    )
            if recursive or len(parts) == 1:
                entry: dict[str, Any] = {
                    "type": "file",
                    "oid": stored.oid,
                    "size": len(stored.content),
                    "path": file_path,
                }
                if stored.lfs:
                    entry["lfs"] = {
                        "oid": stored.sha256,
                        "size": len(stored.content),
                        "pointerSize": len(lfs_pointer(stored.sha256, len(stored.content))),
                    }
                entries[file_path] = entry
        if prefix and not entries:
            raise HubError(404, f"{path} does not exist", "EntryNotFound")
        self._send_json(200, [entries[k] for k in sorted(entries)])

    def do_refs(self, query: dict, repo: str) -> None:
        target = self._repo(repo)

        def refs(kind: str, items: dict) -> list[dict[str, str]]:
            return [
                {"name": str(n), "ref": f"refs/{kind}/{n}", "targetCommit": sha} for n, sha in items.items()
            ]

        data = {"branches": refs("heads", target.branches), "tags": refs("tags", target.tags), "converts": []}
        data["pullRequests"] = refs("pr", target.pull_requests) if query.get("include_prs") else []
        self._send_json(200, data)

    def do_resolve(self, query: dict, repo: str, rev: str, path: str) -> None:
        target = self._repo(repo)
        commit = self._commit_of(target, rev)
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, f"{path} does not exist", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        content = stored.content
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{stored.etag}"', "Accept-Ranges": "bytes"}
        if stored.lfs:
            headers["X-Linked-Etag"] = f'"{stored.sha256}"'
            headers["X-Linked-Size"] = str(len(content))
        status, start = 200, 0
        if (wanted := self.headers.get("Range")) and (match := re.fullmatch(r"bytes=(\d+)-", wanted.strip())):
            start = int(match[1])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        if self.command == "GET":
            with self.state.lock:
                target.downloads += 1
        self._send(status, content[start:], headers, content_type="application/octet-stream")

    def _take_fault(self, path: str) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.method == self.command and path.endswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


class HubServer(ThreadingHTTPServer):
    """The server on a free loopback port; ``endpoint`` is what HF_ENDPOINT should be."""

    daemon_threads = True
    allow_reuse_address = True
    token = TEST_TOKEN

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HubRequestHandler)
        self.state = HubState()
        self.endpoint = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, name="test-hub", daemon=True)

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
