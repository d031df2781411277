"""``kafka.properties`` (Java client keys, as teams already write them) -> every client we build.

The rule it owns: one map of Java-style Kafka client properties configures every connection to
Kafka. The Flink connector gets each key verbatim as ``properties.<key>`` (:func:`flink_options`;
the one rewrite: the JAAS login module's class, relocated in the connector jar);
the Python clients (kafka-python producers, consumers, admin) get the same settings translated by
:func:`client_kwargs`. A key kafka-python cannot honour is rejected when the config loads
(:func:`check_properties`), so the Java and Python sides never silently disagree.

Supported keys: ``security.protocol`` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL),
``sasl.mechanism`` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), ``sasl.jaas.config`` (a Plain or Scram
LoginModule with ``username``/``password``), ``ssl.truststore.type``/``ssl.keystore.type`` (PEM
only: kafka-python reads PEM), ``ssl.truststore.location``, ``ssl.keystore.location`` (one PEM
file with the certificate and its key), ``ssl.key.password``,
``ssl.endpoint.identification.algorithm`` (``https`` or empty), ``request.timeout.ms``.
``preflight`` connects with a short timeout and names the listener and mechanism on failure.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from featurestream.errors import ConfigError, FeatureStreamError

__all__ = [
    "FLINK_SHADED_PREFIX",
    "KafkaConnectError",
    "check_properties",
    "client_kwargs",
    "client_options",
    "describe_listener",
    "flink_options",
    "jaas_credentials",
    "kafka_admin",
    "preflight",
    "secret_values",
]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Keys featurestream sets itself, per job: configuring them globally would break a job.
_OWNED = {
    "bootstrap.servers": "set kafka.bootstrap_servers instead",
    "group.id": "each job's consumer group is naming.consumer_group(view)",
    "transaction.timeout.ms": "the exactly-once sinks set it",
    "transactional.id": "the exactly-once sinks set a prefix per view",
    "auto.offset.reset": "jobs start from their group offsets, else the earliest",
}
# Where flink-sql-connector-kafka relocates the Kafka client's classes (JAAS modules included).
FLINK_SHADED_PREFIX = "org.apache.flink.kafka.shaded."
_SENSITIVE = re.compile(r"password|secret|jaas|token|credential", re.I)
_JAAS = re.compile(
    r"^\s*org\.apache\.kafka\.common\.security\.(plain\.PlainLoginModule|scram\.ScramLoginModule)\s+required\s+(.*?);?\s*$",
    re.S,
)
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


class KafkaConnectError(FeatureStreamError):
    """Kafka could not be reached or refused our credentials (names the listener and mechanism)."""


def jaas_credentials(jaas: str) -> tuple[str, str]:
    """``(username, password)`` of a Plain or Scram ``sasl.jaas.config``; ConfigError otherwise.
    The message never repeats the value (it holds the password)."""
    m = _JAAS.match(jaas)
    opts = dict(_JAAS_OPTION.findall(m.group(2))) if m else {}
    if not m or "username" not in opts or "password" not in opts:
        raise ConfigError(
            "kafka.properties.sasl.jaas.config: expected "
            '\'org.apache.kafka.common.security.plain.PlainLoginModule required username="..." password="...";\' '
            "(or scram.ScramLoginModule), found another form (value not shown: it holds a secret)",
            hint='write the password as ${KAFKA_PASSWORD} inside password="..." and export it',
        )
    unescape = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
    return unescape(opts["username"]), unescape(opts["password"])


def secret_values(props: Mapping[str, str]) -> list[str]:
    """The secret values in ``props``: every value whose key names a password, secret, token or
    JAAS config, and the password inside ``sasl.jaas.config``; longest first."""
    found = [v for k, v in props.items() if _SENSITIVE.search(k)]
    if "sasl.jaas.config" in props:
        with contextlib.suppress(ConfigError):
            found.append(jaas_credentials(props["sasl.jaas.config"])[1])
    return sorted({v for v in found if v}, key=len, reverse=True)


def check_properties(props: Mapping[str, str]) -> None:
    """Reject what kafka-python cannot honour or featurestream owns (see the module docstring)."""
    client_kwargs(props)


def _pem_only(props: Mapping[str, str], kind: str) -> None:
    t = props.get(f"ssl.{kind}.type", "JKS" if f"ssl.{kind}.location" in props else "PEM")
    if t.upper() != "PEM":
        raise ConfigError(
            f"kafka.properties.ssl.{kind}.type: expected PEM (the Python clients read PEM files only), found {t}",
            hint=f"convert the {kind} to PEM (keytool/openssl) and set ssl.{kind}.type: PEM; Flink reads PEM too",
        )


def client_kwargs(props: Mapping[str, str]) -> dict[str, Any]:
    """kafka-python keyword arguments for ``props`` (empty for an empty map). ConfigError names
    the first key that cannot be translated and what to do instead."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        where = f"kafka.properties.{key}"
        if key in _OWNED:
            raise ConfigError(f"{where}: featurestream sets this key itself", hint=_OWNED[key])
        if key == "security.protocol":
            if value.upper() not in PROTOCOLS:
                raise ConfigError(f"{where}: expected one of {', '.join(PROTOCOLS)}, found {value!r}")
            out["security_protocol"] = value.upper()
        elif key == "sasl.mechanism":
            if value.upper() not in MECHANISMS:
                raise ConfigError(
                    f"{where}: expected one of {', '.join(MECHANISMS)}, found {value!r}",
                    hint="GSSAPI and OAUTHBEARER need callbacks the Python clients do not have",
                )
            out["sasl_mechanism"] = value.upper()
        elif key == "sasl.jaas.config":
            out["sasl_plain_username"], out["sasl_plain_password"] = jaas_credentials(value)
        elif key in ("ssl.truststore.type", "ssl.keystore.type"):
            _pem_only(props, key.split(".")[1])
        elif key == "ssl.truststore.location":
            _pem_only(props, "truststore")
            out["ssl_cafile"] = value
        elif key == "ssl.keystore.location":
            _pem_only(props, "keystore")
            out["ssl_certfile"] = value
        elif key == "ssl.key.password":
            out["ssl_password"] = value
        elif key == "ssl.endpoint.identification.algorithm":
            if value not in ("", "https"):
                raise ConfigError(f"{where}: expected 'https' or '' (no hostname check), found {value!r}")
            out["ssl_check_hostname"] = value == "https"
        elif key == "request.timeout.ms":
            if not value.isdigit():
                raise ConfigError(f"{where}: expected milliseconds (digits), found {value!r}")
            out["request_timeout_ms"] = int(value)
        else:
            raise ConfigError(
                f"{where}: not a key featurestream can pass to both the Flink connector and the Python clients",
                hint="supported: security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.type/location, "
                "ssl.keystore.type/location, ssl.key.password, ssl.endpoint.identification.algorithm, "
                "request.timeout.ms",
            )
    if "sasl_mechanism" in out and "sasl_plain_username" not in out:
        raise ConfigError("kafka.properties: sasl.mechanism is set but sasl.jaas.config is missing")
    if "SASL" in out.get("security_protocol", "") and "sasl_mechanism" not in out:
        out["sasl_mechanism"] = "PLAIN"  # the Java client's default too
    return out


def client_options(props: Mapping[str, str], *, request_timeout_ms: int, bootstrap_timeout_ms: int) -> dict[str, Any]:
    """:func:`client_kwargs` of ``props`` with both timeouts every kafka-python client we build
    has: ``request_timeout_ms`` (``request.timeout.ms`` in ``props`` wins: it is the team's setting)
    and ``bootstrap_timeout_ms``, so an unreachable or silent broker fails a call, never blocks it."""
    return {
        "request_timeout_ms": request_timeout_ms,
        **client_kwargs(props),
        "bootstrap_timeout_ms": bootstrap_timeout_ms,
    }


def flink_options(props: Mapping[str, str]) -> dict[str, str]:
    """The Flink Kafka connector's table options for ``props``: ``properties.<key>`` verbatim, but
    for the JAAS login module's class in ``sasl.jaas.config``: jobs run ``flink-sql-connector-kafka``,
    which relocates the Kafka client under :data:`FLINK_SHADED_PREFIX`, so the class is named as
    the connector holds it (``org.apache.kafka...PlainLoginModule`` is not on its classpath)."""
    out = {f"properties.{k}": v for k, v in props.items()}
    jaas = props.get("sasl.jaas.config", "").lstrip()
    if jaas.startswith("org.apache.kafka."):
        out["properties.sasl.jaas.config"] = FLINK_SHADED_PREFIX + jaas
    return out


def describe_listener(bootstrap: str, props: Mapping[str, str]) -> str:
    """``'<bootstrap> (SASL_SSL, SASL mechanism SCRAM-SHA-512)'``: how we connect, without secrets."""
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if "SASL" in protocol:
        return f"{bootstrap} ({protocol}, SASL mechanism {props.get('sasl.mechanism', 'PLAIN').upper()})"
    return f"{bootstrap} ({protocol})"


def kafka_admin(
    bootstrap: str,
    props: Mapping[str, str],
    *,
    timeout_s: float = 5.0,
    admin_factory: Callable[..., Any] | None = None,
) -> Any:
    """An open kafka-python admin client that has listed the topics within ``timeout_s`` (the
    preflight); KafkaConnectError otherwise. The caller closes it.

    The error names the listener (bootstrap servers, security protocol, SASL mechanism) and the
    client's reason, never the credentials.
    """
    from kafka.errors import KafkaError

    if admin_factory is None:
        from kafka import KafkaAdminClient

        admin_factory = KafkaAdminClient
    ms = max(int(timeout_s * 1000), 100)
    admin = None
    try:
        admin = admin_factory(
            bootstrap_servers=bootstrap,
            client_id="featurestream-admin",
            **{**client_kwargs(props), "request_timeout_ms": ms},
            bootstrap_timeout_ms=ms,
        )
        admin.list_topics()
        return admin
    except (KafkaError, OSError, ValueError) as exc:
        if admin is not None:
            admin.close()
        auth = "uthenticat" in type(exc).__name__ + str(exc)
        reason = f"{type(exc).__name__}: {exc}"
        for secret in secret_values(props):  # before our own words are added (a password may be "wrong")
            reason = reason.replace(secret, "***")
        if not auth and _accepts_tcp(bootstrap):
            # kafka-python retries a refused SASL handshake until its bootstrap timeout: a listener
            # that takes TCP connections but gives no session means credentials or protocol.
            auth = True
            reason = (
                f"the listener accepts TCP connections but no session was established ({reason}): wrong "
                "credentials, or a sasl.mechanism / security.protocol this listener does not speak"
            )
        raise KafkaConnectError(
            f"cannot {'authenticate to' if auth else 'connect to'} Kafka at {describe_listener(bootstrap, props)} "
            f"within {timeout_s:g}s: {reason}",
            hint="check kafka.properties (security.protocol, sasl.mechanism, the credentials in sasl.jaas.config) "
            "against the broker's listener, and that kafka.bootstrap_servers names that listener",
        ) from exc


def _accepts_tcp(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """Whether any ``host:port`` of ``bootstrap`` accepts a TCP connection."""
    import socket

    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            continue
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def preflight(
    bootstrap: str,
    props: Mapping[str, str],
    *,
    timeout_s: float = 5.0,
    admin_factory: Callable[..., Any] | None = None,
) -> None:
    """Connect to Kafka as every client will, within ``timeout_s``; KafkaConnectError otherwise."""
    kafka_admin(bootstrap, props, timeout_s=timeout_s, admin_factory=admin_factory).close()
