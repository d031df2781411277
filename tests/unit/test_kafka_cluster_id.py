"""The KRaft cluster id handed to Kafka's storage tool never looks like an option."""

from __future__ import annotations

import base64
import uuid
from unittest import mock

from featurestream.stack.kafka import new_cluster_id


def test_an_id_is_16_bytes_of_url_safe_base64_without_padding() -> None:
    cid = new_cluster_id()
    assert len(cid) == 22 and "=" not in cid
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_an_id_never_starts_with_a_dash() -> None:
    # 0xf8.. encodes to a leading '-' in URL-safe base64: the storage tool's parser would read it
    # as an option and fail with "argument --cluster-id/-t: expected one argument".
    dash = uuid.UUID(bytes=b"\xf8" + bytes(15))
    plain = uuid.UUID(bytes=b"\x01" + bytes(15))
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    with mock.patch("featurestream.stack.kafka.uuid.uuid4", side_effect=[dash, dash, plain]):
        assert new_cluster_id() == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
    assert not any(new_cluster_id().startswith("-") for _ in range(2000))
