"""fakes/jsonhttp.py - the shared part of the local provider endpoints: a
threaded HTTP server on a free loopback port that hands each request to
handle(h, method) and answers JSON."""
import http.server
import json
import threading


class JsonFake:
    def __init__(self):
        self.lock = threading.Lock()
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def handle(self, h, method):
        raise NotImplementedError

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    @staticmethod
    def reply(h, status, obj):
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
