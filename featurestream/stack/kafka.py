"""The embedded single-node Kafka broker in KRaft mode (broker + controller in one JVM)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid

from kafka import KafkaAdminClient

from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.stack.jars import kafka_classpath
from featurestream.stack.process import ManagedProcess

__all__ = ["KafkaService"]

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

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        c = self.cfg
        self.properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@localhost:{c.controller_port}",
                    f"listeners=PLAINTEXT://localhost:{c.port},CONTROLLER://localhost:{c.controller_port}",
                    f"advertised.listeners=PLAINTEXT://localhost:{c.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
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
        )
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
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties))
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
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            request_timeout_ms=3000,
            api_version_auto_timeout_ms=3000,
            client_id="featurestream-health",
        )
        try:
            info = admin.describe_cluster()
            return bool(info.get("brokers"))
        finally:
            admin.close()
