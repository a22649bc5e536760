"""A local HTTP server on 127.0.0.1 for download tests (no network): serves files of a folder, counts requests,
and can answer like a model hub's ``/<owner>/<name>/resolve/<revision>/<file>`` endpoint."""
import hashlib
import http.server
import os
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, List


class _Handler(http.server.BaseHTTPRequestHandler):
    root = ''
    requests: List[str] = []
    hub_commit = '0123456789abcdef0123456789abcdef01234567'

    def _resolve(self) -> str:
        path = self.path.split('?', 1)[0].lstrip('/')
        parts = path.split('/')
        if len(parts) >= 5 and parts[2] == 'resolve':  # owner/name/resolve/rev/file -> owner/name/file
            path = '/'.join(parts[:2] + parts[4:])
        return os.path.join(self.root, *path.split('/'))

    def _send_headers(self, path: str) -> bool:
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.send_header('X-Error-Code', 'EntryNotFound')
            self.end_headers()
            return False
        with open(path, 'rb') as f:
            data = f.read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('ETag', '"%s"' % hashlib.sha256(data).hexdigest())
        self.send_header('X-Repo-Commit', self.hub_commit)
        self.end_headers()
        return True

    def do_HEAD(self) -> None:  # noqa: N802
        self.requests.append('HEAD ' + self.path)
        self._send_headers(self._resolve())

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append('GET ' + self.path)
        path = self._resolve()
        if self._send_headers(path):
            with open(path, 'rb') as f:
                self.wfile.write(f.read())

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@contextmanager
def serve_folder(root: str) -> Iterator[Dict]:
    """``with serve_folder(d) as srv:`` → ``srv['url']`` (http://127.0.0.1:PORT) and ``srv['requests']``."""
    handler = type('Handler', (_Handler,), dict(root=str(root), requests=[]))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield dict(url=f'http://127.0.0.1:{server.server_address[1]}', requests=handler.requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
