"""`doithoai demo --web`, as a newcomer runs it: a console with sample data and a login, no bot."""

from __future__ import annotations

import asyncio
import re
import socket

from httpx import AsyncClient, Response

from tests.integration.test_web import csrf_of
from tests.support.eventually import eventually
from tests.support.process import command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_demo_web_serves_the_console_with_questions_in_every_state_and_prints_a_login(tmp_path):
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(*command("demo", "--web", "--port", str(port)), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        printed = ""
        while "Mật khẩu" not in printed:
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line, f"demo --web ended early: {printed}"
            printed += line.decode()
        assert f"http://127.0.0.1:{port}/" in printed
        login, password = re.search(r"Đăng nhập: (\S+)\s+Mật khẩu: (\S+)", printed).groups()  # type: ignore[union-attr]

        async with AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async def login_page() -> Response | None:
                try:
                    return await client.get("/login")
                except OSError:
                    return None  # uvicorn binds just after the banner

            page = await eventually(login_page, what="the login page")
            signed = await client.post("/login", data={"csrf": csrf_of(page.text), "login": login, "password": password, "next": "/"})
            assert signed.status_code == 303
            listing = (await client.get("/submissions")).text
            refs = sorted(set(re.findall(r"GP-0\d{3}\b", listing)))
            assert refs == [f"GP-{n:04d}" for n in range(1, 13)]
            # Every state a question can be in before the meeting, as the console shows them.
            for shown in ("Chưa trả lời", "Đã trả lời", "Đã chuyển cơ quan khác", "Phòng Kinh tế"):
                assert shown in listing, shown
            assert "Trần Thị Bình" in (await client.get("/submissions/GP-0002")).text
            duplicate = (await client.get("/submissions/GP-0009")).text
            assert "GP-0001" in duplicate
            forwarded = (await client.get("/submissions/GP-0010")).text
            assert "UBND huyện" in forwarded
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
