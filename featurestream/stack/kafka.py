"""The embedded single-node Kafka broker in KRaft mode (broker + controller in one JVM)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid

from kafka import KafkaAdminClient

from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.stack.jars import kafka_classpath
from featurestream.stack.kafka_sasl import LISTENER, register_scram_users, sasl_properties
from featurestream.stack.process import ManagedProcess, port_open

__all__ = ["KafkaService", "new_cluster_id"]

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 random bytes in URL-safe base64 without padding, as Kafka's own
    ``Uuid.randomUuid`` makes them. Like Kafka's, it never starts with '-': the storage tool's
    argument parser would read such an id as an option (1 start in 64 did, and formatting failed)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class KafkaService:
    name = "kafka"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cfg = config.stack.kafka
        self.state = config.state_path
        self.home = self.state / "kafka"
        self.proc = ManagedProcess(self.name, self.state)
        self.port = self.cfg.port
        self.bootstrap = f"localhost:{self.port}"

    @property
    def properties(self):  # type: ignore[no-untyped-def]
        return self.home / "server.properties"

    @property
    def sasl_users(self) -> dict[str, str]:
        """The SASL listener's users (name -> password); empty when the listener is off."""
        if not self.cfg.sasl_port:
            return {}
        return {name: pw.get_secret_value() for name, pw in self.cfg.sasl_users.items()}

    def server_properties(self) -> str:
        """The broker's ``server.properties`` text (holds the SASL users' passwords: never log it)."""
        c = self.cfg
        listeners = [f"PLAINTEXT://localhost:{c.port}"]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        sasl_lines: list[str] = []
        if c.sasl_port:
            extra, sasl_lines = sasl_properties(c.sasl_port, self.sasl_users)
            listeners += extra
            protocols.append(f"{LISTENER}:{LISTENER}")
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@localhost:{c.controller_port}",
                f"listeners={','.join(listeners)},CONTROLLER://localhost:{c.controller_port}",
                f"advertised.listeners={','.join(listeners)}",
                "controller.listener.names=CONTROLLER",
                f"listener.security.protocol.map={','.join(protocols)}",
                "inter.broker.listener.name=PLAINTEXT",
                *sasl_lines,
                f"log.dirs={self.home / 'data'}",
                f"num.partitions={c.partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.retention.hours=168",
                "",
            ]
        )

    def write_config(self) -> None:
        """Write ``server.properties`` with mode 0600 (it may hold passwords) and the log config."""
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT: set it
        with os.fdopen(fd, "w") as f:
            f.write(self.server_properties())
        (self.home / "log4j2.properties").write_text(_LOG4J2)

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "'java' is not on PATH; the Kafka broker needs Java 17", hint="apt-get install openjdk-17-jdk-headless"
            )
        return [
            java,
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            kafka_classpath(self.config.jars_path),
            main,
            *args,
        ]

    def format_storage(self) -> bool:
        """Format the KRaft log dir on first start; returns True when it formatted."""
        if (self.home / "data" / "meta.properties").exists():
            return False
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(self.properties))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(
                f"formatting Kafka storage failed:\n{proc.stdout}{proc.stderr}",
                hint=f"remove {self.home / 'data'} and run 'featurestream up' again",
            )
        return True

    def start(self) -> None:
        self.write_config()
        self.format_storage()
        cmd = self._java("kafka.Kafka", str(self.properties), heap=self.cfg.heap)
        self.proc.start(cmd, self.port, marker=str(self.properties))

    def healthy(self) -> bool:
        if self.cfg.sasl_port and not port_open(self.cfg.sasl_port):
            return False
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
            client_id="featurestream-health",
        )
        try:
            info = admin.describe_cluster()
            return bool(info.get("brokers"))
        finally:
            admin.close()

    def check_sasl(self) -> None:
        """A running broker serves the configured SASL listener; its SCRAM users are current.

        StackError when a broker started before ``stack.kafka.sasl_port`` was set runs without it.
        """
        port = self.cfg.sasl_port
        if not port:
            return
        if not port_open(port):
            raise StackError(
                f"the running Kafka broker has no SASL listener on port {port} (stack.kafka.sasl_port): "
                "it was started before the listener was configured",
                hint="restart it: 'featurestream down --only kafka && featurestream up'",
            )
        register_scram_users(self.bootstrap, self.sasl_users)
