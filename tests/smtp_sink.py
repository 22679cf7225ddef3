#!/usr/bin/env python3
"""A real SMTP server for pacer's report tests (aiosmtpd), listening on 127.0.0.1:<port>.

Each message it accepts is written to <dir> twice: `<n>.eml`, the bytes as received, and
`<n>.json`, its MIME structure parsed by Python's `email` package, so that the Rust tests assert
on a parse made by a different implementation than the one that built the message:

    {"mail_from": ..., "rcpt_tos": [...], "subject": ..., "message_id": ...,
     "tree": {"content_type": "multipart/alternative", "parts": [...]}}

A leaf part has content_type, content_id, disposition, and either `text` (decoded) or
`size` and `png` (whether the bytes start with the PNG signature). It prints `ready` once it
accepts connections, and runs until killed.

Usage: smtp_sink.py --port PORT --dir DIR
"""

import argparse
import email
import email.policy
import json
import os
import threading
import time

from aiosmtpd.controller import Controller

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tree(part):
    """The MIME tree of a message part as plain data."""
    node = {"content_type": part.get_content_type()}
    if part.is_multipart():
        node["parts"] = [tree(p) for p in part.iter_parts()]
        return node
    node["content_id"] = part.get("Content-ID")
    node["disposition"] = part.get_content_disposition()
    if part.get_content_maintype() == "text":
        node["text"] = part.get_content()
    else:
        payload = part.get_payload(decode=True) or b""
        node["size"] = len(payload)
        node["png"] = payload.startswith(PNG_SIGNATURE)
    return node


class Sink:
    """Saves every message; numbering is shared by all connections."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "tree": tree(message),
        }
        with self.lock:
            n = len([f for f in os.listdir(self.directory) if f.endswith(".eml")]) + 1
            base = os.path.join(self.directory, "%04d" % n)
            with open(base + ".eml", "wb") as f:
                f.write(raw)
            # Written last and renamed into place: a reader that sees the .json sees it whole.
            with open(base + ".tmp", "w") as f:
                json.dump(summary, f)
            os.rename(base + ".tmp", base + ".json")
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, decode_data=False)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
