"""Which of a server's processes holds a client's connections: what the batch benchmark reports per round.

With ``SO_REUSEPORT`` each worker has its own listening socket and the kernel picks one per new connection, so
the batch benchmark's two kept-alive connections landed both on one worker in about half of its runs, and its
figure fell from ~315,000 to ~190,000 rows/s with nothing else changed.
"""

import os
import socket
import subprocess
import sys
import time

from bench.serving_compare import connections_per_process

LISTENER = """
import socket, sys
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
accepted = server.accept()
sys.stdin.read()
"""


def test_the_connections_a_listening_process_accepted_are_counted():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    accepted = [server.accept()[0] for _ in clients]
    try:
        assert connections_per_process(os.getpid(), port) == {os.getpid(): 2}
        accepted.pop().close()
        assert connections_per_process(os.getpid(), port) == {os.getpid(): 1}
    finally:
        for item in (*clients, *accepted, server):
            item.close()


def test_a_child_that_listens_is_found_and_the_client_side_is_not_counted():
    child = subprocess.Popen([sys.executable, "-c", LISTENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        port = int(child.stdout.readline())
        with socket.create_connection(("127.0.0.1", port)):
            held: dict[int, int] = {}
            for _ in range(100):  # the child may not have accepted yet
                held = connections_per_process(os.getpid(), port)
                if held.get(child.pid):
                    break
                time.sleep(0.05)
            assert held == {child.pid: 1}
    finally:
        child.stdin.close()
        child.wait(timeout=10)
