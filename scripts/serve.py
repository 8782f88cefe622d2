"""Serves the repository root (the demo page, pkg/ and models/) on 127.0.0.1 only, under a
strict Content Security Policy: the page, the widget and the wasm must work without inline
script or eval (examples/embed.html proves it), cross-origin isolated (COOP and COEP) so the
CPU build runs threaded; LATENTPAD_NO_ISOLATION=1 serves without those headers (one thread).

Usage: python3 scripts/serve.py [PORT]"""
import functools
import http.server
import os
import sys


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
])


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".lpw": "application/octet-stream",
    }

    def end_headers(self):
        # Pages are served fresh during development.
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", CSP)
        # Cross-origin isolation: the threaded CPU build needs SharedArrayBuffer. Everything
        # here is same-origin, so requiring CORP of subresources costs nothing.
        if not os.environ.get("LATENTPAD_NO_ISOLATION"):
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def log_message(self, *args):
        if os.environ.get("LATENTPAD_SERVE_LOG"):
            super().log_message(*args)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    handler = functools.partial(Handler, directory=root)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"latentpad demo at http://127.0.0.1:{port}/", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
