"""A cluster featurestream does not own, on this machine: an S3-compatible store (moto in server
mode) and a second Flink cluster (one JobManager, two TaskManagers) that runs from its own folder
with its own copy of the featurestream runtime and never sees the feature repo or this checkout.

The runtime copy is what an image would hold: a wheel of featurestream installed into a fresh
virtualenv whose third-party packages (PyFlink, pandas, redis, ...) are read from the test
virtualenv's site-packages (a ``.pth`` path line, so its editable-install hook is NOT loaded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from featurestream.stack.process import ManagedProcess, port_open, wait_until

__all__ = ["MotoS3", "runtime_python"]

CHECKOUT = Path(__file__).resolve().parents[2]


def runtime_python(work: Path) -> Path:
    """Build (once per ``work`` folder) the runtime virtualenv and return its ``python``."""
    venv = work / "runtime-venv"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(CHECKOUT)],
        check=True,
        capture_output=True,
        text=True,
    )
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "_featurestream_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(wheels.glob("featurestream-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    where = subprocess.check_output(
        [str(python), "-c", "import featurestream.jobs.runner as m, pyflink; print(m.__file__)"],
        text=True,
        cwd=work,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).strip()
    if not where.startswith(str(site)):
        raise RuntimeError(f"the runtime copy imports featurestream from {where}, not from {site}")
    return python


class MotoS3:
    """moto's S3 server on ``port`` (state under ``work``), stopped by pid."""

    def __init__(self, work: Path, port: int) -> None:
        self.work = work
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = ManagedProcess("moto-s3", work)

    def start(self) -> None:
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        if exe is None:
            raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
        self.proc.start([exe, "-H", "127.0.0.1", "-p", str(self.port)], self.port, marker="moto", cwd=self.work)
        wait_until(lambda: port_open(self.port), 60, "moto S3 server", self.proc.logfile, alive=self.proc.running)

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        )

    def keys(self, bucket: str, prefix: str) -> list[str]:
        out: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    def stop(self) -> None:
        self.proc.stop()
