"""Structural checks of the container and deployment files.

Building an image needs a Docker engine, which CI does not have; these tests catch what
breaks a deployment silently instead: a probe on the wrong path or port, a uid that
Kubernetes rejects, a console script that does not exist, a volume nobody declared, a
torch pin that drifted from pyproject.toml. The schema lints live in
scripts/check_deploy.sh, which the last test runs.
"""

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]
COMPOSE_FILES = ["docker-compose.yml", "docker-compose.gpu.yml"]
K8S = ROOT / "deploy" / "k8s"
PORT = 8000
STORE = "/opt/tinyserve/models_store"
READY, LIVE = "/health/ready", "/health/live"
# Variables that .env.example documents for docker compose, not for the service.
COMPOSE_ONLY_VARIABLES = {"TINYSERVE_PUBLISH_PORT", "TINYSERVE_MEMORY_LIMIT", "TINYSERVE_DATA_DIR"}
CHECK_TOOLS = ["hadolint", "check-jsonschema", "kubernetes-validate"]


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


@cache
def stages(dockerfile: str) -> dict[str, Stage]:
    """The Dockerfile's stages by name, in order; the last one is the default target."""
    parser = DockerfileParser(fileobj=io.BytesIO((ROOT / dockerfile).read_bytes()))
    result: dict[str, Stage] = {}
    current: Stage | None = None
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            image, _, name = value.partition(" AS ")
            current = Stage(name.strip() or f"stage{len(result)}", image.strip())
            result[current.name] = current
        elif current is not None and instruction != "COMMENT":
            current.instructions.append((instruction, value))
    return result


def final_stage(dockerfile: str) -> Stage:
    return list(stages(dockerfile).values())[-1]


def lineage(dockerfile: str, stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    chain, all_stages = [stage], stages(dockerfile)
    while chain[-1].base in all_stages:
        chain.append(all_stages[chain[-1].base])
    return chain


def env_of(dockerfile: str, stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for ancestor in reversed(lineage(dockerfile, stage)):
        for value in ancestor.values("ENV"):
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                env[name] = setting
    return env


def workdir_of(dockerfile: str, stage: Stage) -> PurePosixPath:
    for ancestor in lineage(dockerfile, stage):
        if workdirs := ancestor.values("WORKDIR"):
            return PurePosixPath(workdirs[-1])
    return PurePosixPath("/")


def copies(stage: Stage) -> list[tuple[list[str], list[str], str]]:
    """(flags, sources, destination) of each COPY."""
    result = []
    for value in stage.values("COPY"):
        words = shlex.split(value)
        flags = [word for word in words if word.startswith("--")]
        paths = [word for word in words if not word.startswith("--")]
        result.append((flags, paths[:-1], paths[-1]))
    return result


def context_sources(stage: Stage) -> set[str]:
    """What the stage COPYs from the build context (not --from another stage)."""
    return {
        source.rstrip("/")
        for flags, sources, _ in copies(stage)
        if not any(flag.startswith("--from") for flag in flags)
        for source in sources
    }


def user_id(dockerfile: str) -> int:
    users = final_stage(dockerfile).values("USER")
    assert users, f"{dockerfile}: the final stage sets no USER, so it runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"{dockerfile}: USER {uid!r} must be numeric for Kubernetes' runAsNonRoot check"
    return int(uid)


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned_version(requirements: list[str], package: str) -> str:
    for requirement in requirements:
        if match := re.fullmatch(rf"{package}==(\S+)", requirement):
            return match.group(1)
    raise AssertionError(f"pyproject.toml does not pin {package}==VERSION")


@cache
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    return load_yaml(ROOT / name)  # type: ignore[no-any-return]


def k8s(name: str) -> dict[str, Any]:
    return load_yaml(K8S / name)  # type: ignore[no-any-return]


def urls_in(text: str) -> list[tuple[int, str]]:
    """(port, path) of every http://127.0.0.1 or localhost URL in a command."""
    found = re.findall(r"http://(?:127\.0\.0\.1|localhost):(\d+)(/[\w/.-]*)", text)
    return [(int(port), path) for port, path in found]


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"probe port {port!r} is not a named port of container {container['name']}"
    return int(named[port])


# --- Dockerfiles ---------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_final_stage_runs_as_the_uid_kubernetes_expects(dockerfile: str) -> None:
    uid = user_id(dockerfile)
    pod = k8s("deployment.yaml")["spec"]["template"]["spec"]
    assert uid != 0
    assert uid == pod["securityContext"]["runAsUser"]
    for container in pod["containers"]:
        assert container["securityContext"].get("runAsUser", uid) == uid


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_final_stage_exposes_port_and_checks_readiness(dockerfile: str) -> None:
    stage = final_stage(dockerfile)
    assert str(PORT) in " ".join(stage.values("EXPOSE")).split()
    healthchecks = stage.values("HEALTHCHECK")
    assert len(healthchecks) == 1, f"{dockerfile}: expected one HEALTHCHECK in the final stage"
    assert urls_in(healthchecks[0]) == [(PORT, READY)]
    assert "CMD [" in healthchecks[0], "use the exec form: no shell is needed to run python"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_cmd_is_a_declared_console_script_on_the_exposed_port(dockerfile: str) -> None:
    cmd = json.loads(final_stage(dockerfile).values("CMD")[-1])  # exec form, so PID 1 gets SIGTERM
    assert cmd[0] in pyproject()["project"]["scripts"], f"{cmd[0]!r} is not in [project.scripts]"
    assert cmd[1] == "serve"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == str(PORT)
    assert not final_stage(dockerfile).values("ENTRYPOINT")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_models_are_baked_where_the_store_setting_points(dockerfile: str) -> None:
    stage = final_stage(dockerfile)
    assert env_of(dockerfile, stage)["TINYSERVE_MODEL_STORE"] == STORE
    destinations = [
        workdir_of(dockerfile, stage) / destination
        for flags, sources, destination in copies(stage)
        if sources == ["models_store"] and not any(flag.startswith("--from") for flag in flags)
    ]
    assert destinations == [PurePosixPath(STORE)]


@pytest.mark.parametrize(("dockerfile", "device"), [("Dockerfile", "cpu"), ("Dockerfile.cuda", "cuda")])
def test_image_device(dockerfile: str, device: str) -> None:
    assert env_of(dockerfile, final_stage(dockerfile))["TINYSERVE_DEVICE"] == device


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_base_images_are_pinned(dockerfile: str) -> None:
    all_stages = stages(dockerfile)
    external = [stage.base for stage in all_stages.values() if stage.base not in all_stages]
    assert external
    for image in external:
        tag = image.rpartition(":")[2]
        assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), f"pin {image} by version"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_wheel_package_is_copied_into_the_build(dockerfile: str) -> None:
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = set().union(*(context_sources(stage) for stage in stages(dockerfile).values()))
    assert packages <= copied, f"{dockerfile} builds the wheel without {sorted(packages - copied)}"
    assert {"pyproject.toml", "README.md"} <= copied


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_torch_pins_match_pyproject(dockerfile: str) -> None:
    project = pyproject()["project"]
    expected = {
        "torch": pinned_version(project["dependencies"], "torch"),
        "torchvision": pinned_version(project["optional-dependencies"]["train"], "torchvision"),
    }
    runs = " ".join(value for stage in stages(dockerfile).values() for value in stage.values("RUN"))
    for package, version in expected.items():
        pins = set(re.findall(rf"\b{package}==([\w.+]+)", runs))
        assert pins <= {version, f"{version}+cpu"}, f"{dockerfile} pins {package} {pins}, pyproject {version}"
    assert re.search(rf"\btorch=={re.escape(expected['torch'])}", runs), "install torch with an explicit pin"


def test_build_arguments_default_to_the_cpu_image_users_get() -> None:
    """scripts/container_check.sh builds with other torch sources; users, with no argument,
    get PyTorch's CPU index alone and a build that fails unless torch is the CPU build."""
    parser = DockerfileParser(fileobj=io.BytesIO((ROOT / "Dockerfile").read_bytes()))
    defaults: dict[str, str] = {}
    for item in parser.structure:
        if item["instruction"] == "FROM":
            break
        if item["instruction"] == "ARG":
            name, _, default = item["value"].partition("=")
            defaults[name] = default.strip('"')
    assert defaults == {
        "TORCH_INDEX_URL": "https://download.pytorch.org/whl/cpu",
        "TORCH_EXTRA_INDEX_URL": "",
        "TORCH_VARIANT": "cpu",
    }
    builder = stages("Dockerfile")["builder"]
    assert any("== 'any' or torch.version.cuda is None" in run for run in builder.values("RUN"))


def test_runtime_gets_the_pruned_venv() -> None:
    all_stages = stages("Dockerfile")
    venvs = [(flags, sources) for flags, sources, dest in copies(final_stage("Dockerfile")) if dest == "/opt/venv"]
    assert venvs == [(["--from=runtime-venv"], ["/opt/venv"])]
    assert all_stages["runtime-venv"].base == "builder"
    prune = " ".join(all_stages["runtime-venv"].values("RUN"))
    assert "pip uninstall" in prune and "torch/include" in prune


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_training_stage_runs_the_training_cli(dockerfile: str) -> None:
    stage = stages(dockerfile)["training"]
    assert json.loads(stage.values("ENTRYPOINT")[-1]) == ["python", "-m", "training"]
    assert "training" in context_sources(stage), "training/ is not in the wheel: the image needs its source"
    assert user_id(dockerfile) == int(stage.values("USER")[-1].split(":")[0])


def test_dockerignore_lets_every_copied_path_in_and_keeps_secrets_out() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", "keep the allow-list form: everything out, then `!path` back in"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for dockerfile in DOCKERFILES:
        for stage in stages(dockerfile).values():
            missing = context_sources(stage) - allowed
            assert not missing, f"{dockerfile} copies {sorted(missing)}, which .dockerignore keeps out"
    assert not allowed & {".env", ".venv", ".git", "data", "tests", "dist", "build"}


# --- docker compose ------------------------------------------------------------------


def test_compose_api_healthcheck_ports_and_limits() -> None:
    api = compose()["services"]["api"]
    assert urls_in(" ".join(api["healthcheck"]["test"])) == [(PORT, READY)]
    assert any(str(mapping).endswith(f":{PORT}") for mapping in api["ports"])
    assert api["restart"] == "unless-stopped"
    assert api["deploy"]["resources"]["limits"]["memory"]
    assert api["env_file"] == [{"path": ".env", "required": False}]


def test_compose_named_volumes_are_declared_and_hold_the_store() -> None:
    document = compose()
    declared = set(document.get("volumes") or {})
    for name, service in document["services"].items():
        mounts = [str(volume).split(":") for volume in service.get("volumes", [])]
        named = {source for source, *_ in mounts if not source.startswith((".", "/", "$", "~"))}
        assert named <= declared, f"service {name} mounts undeclared volumes {named - declared}"
        assert ["models", STORE] in [mount[:2] for mount in mounts], f"{name} must mount the store"
        assert service["environment"]["TINYSERVE_MODEL_STORE"] == STORE


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_references_exist(name: str) -> None:
    base_services = set(compose()["services"])
    services = compose(name)["services"]
    assert set(services) <= base_services, f"{name} overrides services that docker-compose.yml lacks"
    for service_name, service in services.items():
        depends_on = service.get("depends_on") or []
        assert set(depends_on) <= base_services, f"{service_name} depends on an unknown service"
        build = {**compose()["services"][service_name].get("build", {}), **service.get("build", {})}
        if "target" in build:
            dockerfile = build.get("dockerfile", "Dockerfile")
            assert build["target"] in stages(dockerfile), f"{dockerfile} has no stage {build['target']!r}"


def test_compose_train_service_is_a_one_shot_training_cli() -> None:
    train = compose()["services"]["train"]
    assert train["profiles"] == ["train"]
    assert train["entrypoint"] == ["python", "-m", "training"]
    assert train["restart"] == "no"
    data_mounts = [volume for volume in train["volumes"] if str(volume).endswith(":/opt/tinyserve/data:ro")]
    assert len(data_mounts) == 1, "mount the data read-only at the CLI's default data/ folder"


def test_compose_gpu_override_reserves_a_gpu_and_uses_the_cuda_image() -> None:
    api = compose("docker-compose.gpu.yml")["services"]["api"]
    devices = api["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert api["build"]["dockerfile"] == "Dockerfile.cuda"
    assert api["environment"]["TINYSERVE_DEVICE"] == "cuda"


def test_env_example_documents_real_settings() -> None:
    settings = pytest.importorskip("service.settings", reason="service.settings is not importable yet")
    documented = set(re.findall(r"^#?\s*(TINYSERVE_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    fields = {f"TINYSERVE_{name.upper()}" for name in settings.Settings.model_fields}
    assert documented - COMPOSE_ONLY_VARIABLES <= fields, "documented variables that Settings does not read"
    compose_text = (ROOT / "docker-compose.yml").read_text()
    for variable in COMPOSE_ONLY_VARIABLES:
        assert variable in documented and f"${{{variable}:-" in compose_text


# --- Kubernetes ----------------------------------------------------------------------


def test_k8s_probes_point_at_health_routes_on_the_service_port() -> None:
    (container,) = k8s("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert [port["containerPort"] for port in container["ports"]] == [PORT]
    for probe, path in [("readinessProbe", READY), ("livenessProbe", LIVE), ("startupProbe", LIVE)]:
        get = container[probe]["httpGet"]
        assert (get["path"], resolve_port(container, get["port"])) == (path, PORT), probe


def test_k8s_deployment_is_locked_down() -> None:
    pod = k8s("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        tmp = [mount["name"] for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
        assert tmp, "a read-only root needs a writable /tmp"
        (volume,) = [volume for volume in pod["volumes"] if volume["name"] == tmp[0]]
        assert "emptyDir" in volume


def test_k8s_objects_select_the_deployment() -> None:
    deployment = k8s("deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = k8s("service.yaml")
    assert service["spec"]["selector"].items() <= labels.items()
    assert [resolve_port(container, port["targetPort"]) for port in service["spec"]["ports"]] == [PORT]
    assert k8s("pdb.yaml")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = k8s("hpa.yaml")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_kserve_inference_service_runs_the_image_as_a_custom_predictor() -> None:
    document = load_yaml(K8S / "kserve" / "inferenceservice.yaml")
    assert document["apiVersion"] == "serving.kserve.io/v1beta1"
    assert document["kind"] == "InferenceService"
    (container,) = document["spec"]["predictor"]["containers"]
    assert container["image"]
    assert [port["containerPort"] for port in container["ports"]] == [PORT]
    assert {"name": "PROTOCOL", "value": "v2"} in container["env"]
    for probe, path in [("readinessProbe", READY), ("livenessProbe", LIVE)]:
        get = container[probe]["httpGet"]
        assert (get["path"], resolve_port(container, get["port"])) == (path, PORT), probe
    assert document["spec"]["predictor"]["securityContext"]["runAsUser"] == user_id("Dockerfile")


# --- the linters ---------------------------------------------------------------------


def test_check_deploy_script_passes() -> None:
    # The tools sit beside the interpreter when pytest runs from a venv that is not activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    missing = [tool for tool in CHECK_TOOLS if shutil.which(tool, path=path) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[dev]'")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check_deploy.sh")],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check_deploy: all passed" in result.stdout
