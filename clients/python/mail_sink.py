"""An SMTP sink for scripts/check-clients: the harness, not the client under test.

Listens on 127.0.0.1 at a port the system picks, writes that port to PORT_FILE once it
accepts connections, and stores every message it receives as MAIL_DIR/<n>.eml until it is
killed. The service under test sends its mail here (SMTP_URL=smtp://127.0.0.1:<port>), and
flow.py reads the verification link from the stored messages.

    python mail_sink.py PORT_FILE MAIL_DIR
"""

import asyncio
import itertools
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session


class Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.numbers = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        path = self.directory / f"{next(self.numbers):04}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        partial.rename(path)  # readers never see half a message
        return "250 OK"


async def main(port_file: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    store = Store(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(store, hostname="sink.invalid"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    port_file.write_text(f"{port}\n")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
