"""Signed links to files the bot sends (a village notice's photo, a calendar file), for channels that
take a file by its address (the Zalo bot's sendPhoto) rather than as an upload."""

from __future__ import annotations

from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer

from storage.models import Attachment

# A link stops working after this long: the file was meant for one message, not for the web.
MAX_AGE = 14 * 24 * 3600


class FileLinks:
    def __init__(self, base_url: str, secret: str) -> None:
        """`secret`: DOITHOAI_FILES_SECRET, a key of the links' own. Not the webhook secret: Telegram and Zalo
        hold that one, and could then make a link to any file the bot keeps."""
        self.base_url = base_url.rstrip("/")
        self._signer = URLSafeTimedSerializer(secret, salt="doithoai-file")

    def url(self, attachment: Attachment) -> str:
        return f"{self.base_url}/files/{self._signer.dumps(attachment.id)}/{quote(attachment.filename)}"

    def attachment_id(self, token: str) -> int | None:
        try:
            value = self._signer.loads(token, max_age=MAX_AGE)
        except BadSignature:
            return None
        return value if isinstance(value, int) else None
