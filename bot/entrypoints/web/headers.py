"""The headers every response of the console carries."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _secure(header: bytes) -> bytes:
    """A Set-Cookie header with the Secure attribute, which it may have already."""
    attributes = [part.strip().lower() for part in header.split(b";")[1:]]
    return header if b"secure" in attributes else header + b"; secure"


class SecurityHeaders:
    """No framing, no inline scripts or styles, no caching of pages that carry residents' data;
    cookies sent over HTTPS only, when the request came over HTTPS (uvicorn takes the scheme from
    the trusted proxy's X-Forwarded-Proto)."""

    CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, _secure(v) if https and k.lower() == b"set-cookie" else v) for k, v in message.get("headers", [])]
                headers += [
                    (b"content-security-policy", self.CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                # A page may say how it is cached (the public page, routes/public.py); any other is never stored.
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
