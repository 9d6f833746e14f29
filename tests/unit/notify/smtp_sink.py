"""A real SMTP server (aiosmtpd) for the notify tests: every message it
receives is appended to a file as JSON (envelope + raw content)."""
import json
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        with open(self.path, "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
                                "data": envelope.content.decode("utf-8", "replace")}, ensure_ascii=False) + "\n")
        return "250 OK"


port, out = int(sys.argv[1]), sys.argv[2]
c = Controller(Sink(out), hostname="127.0.0.1", port=port)
c.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:
    c.stop()
