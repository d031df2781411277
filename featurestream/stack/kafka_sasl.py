"""The local broker's SASL_PLAINTEXT listener: its server properties and its users.

The rules it owns:

1. The listener is named ``SASL_PLAINTEXT`` and enables the mechanisms of :data:`MECHANISMS`;
   the PLAINTEXT listener and the controller listener stay as they are (inter-broker traffic and
   the stack's own tools use PLAINTEXT).
2. PLAIN users live in the listener's JAAS config (``user_<name>="<password>"``) inside the
   broker's generated ``server.properties``; that file is written with mode 0600 and its text is
   never logged. Values are escaped twice: JAAS quoting (``\\`` and ``"``), then Java properties
   escaping (``\\``, non-Latin-1 as ``\\uXXXX``), so any password survives both parsers.
3. SCRAM-SHA-256 users are stored in the cluster metadata: :func:`register_scram_users` upserts
   every configured user over the PLAINTEXT listener each time the stack comes up (idempotent,
   and a changed password takes effect). Passwords travel salted (PBKDF2), never on a command line.
"""

from __future__ import annotations

from collections.abc import Mapping

from featurestream.errors import StackError

__all__ = ["LISTENER", "MECHANISMS", "jaas_quote", "properties_escape", "register_scram_users", "sasl_properties"]

LISTENER = "SASL_PLAINTEXT"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def jaas_quote(value: str) -> str:
    """``value`` as a double-quoted JAAS option value (Kafka parses it with a StreamTokenizer)."""
    if "\n" in value or "\r" in value:
        raise StackError(
            "stack.kafka.sasl_users: a password contains a line break, which a JAAS config cannot hold",
            hint="choose a password without line breaks",
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def properties_escape(value: str) -> str:
    """``value`` escaped for a Java ``.properties`` file read as ISO-8859-1 (Kafka's ``loadProps``)."""
    out = []
    for ch in value.replace("\\", "\\\\"):
        code = ord(ch)
        if code < 0x20 or code > 0x7E:
            units = ch.encode("utf-16-be")
            out += [f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)]
        else:
            out.append(ch)
    return "".join(out)


def sasl_properties(port: int, users: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(listener entries, extra server.properties lines)`` for a SASL listener on ``port``.

    The listener entries are ``SASL_PLAINTEXT://localhost:<port>`` (for ``listeners`` and
    ``advertised.listeners``); the lines enable the mechanisms and hold the PLAIN users' JAAS
    config (rule 2) and the SCRAM login module (its users are :func:`register_scram_users`').
    """
    prefix = f"listener.name.{LISTENER.lower()}"
    plain_users = " ".join(f"user_{name}={jaas_quote(pw)}" for name, pw in sorted(users.items()))
    lines = [
        f"sasl.enabled.mechanisms={','.join(MECHANISMS)}",
        f"{prefix}.plain.sasl.jaas.config=" + properties_escape(f"{_PLAIN_MODULE} required {plain_users};"),
        f"{prefix}.scram-sha-256.sasl.jaas.config={_SCRAM_MODULE} required;",
    ]
    return [f"{LISTENER}://localhost:{port}"], lines


def register_scram_users(bootstrap: str, users: Mapping[str, str], *, timeout_s: float = 10.0) -> None:
    """Upsert every user's SCRAM-SHA-256 credential through the PLAINTEXT listener ``bootstrap``
    (rule 3); StackError naming the users the broker refused."""
    from kafka import KafkaAdminClient
    from kafka.admin import UserScramCredentialUpsertion
    from kafka.errors import KafkaError

    ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="featurestream-stack",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
        )
        try:
            result = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(name, "SCRAM-SHA-256", pw) for name, pw in sorted(users.items())]
            )
        finally:
            admin.close()
    except KafkaError as exc:
        raise StackError(
            f"registering SCRAM-SHA-256 users on the local broker at {bootstrap} failed: {type(exc).__name__}: {exc}",
            hint="see the broker's log under <state_dir>/logs; restart it: "
            "'featurestream down --only kafka && featurestream up'",
        ) from exc
    refused = {user: err for user, err in (result or {}).items() if err}
    if refused:
        raise StackError(
            f"the local broker refused SCRAM-SHA-256 credentials for {sorted(refused)}: {refused}",
            hint="check stack.kafka.sasl_users (a SCRAM password must not be empty)",
        )
