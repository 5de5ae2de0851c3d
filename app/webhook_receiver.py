"""`score4climate receive-webhooks`: a local receiver for trying webhooks out (development).

It answers every POST with 204, checks the Standard Webhooks signature when given the
endpoint's secret (with the reference library, as a real receiver should), and prints one line
per delivery: the verdict, the `webhook-id` and the event's type and subject. Not a production
receiver: it keeps nothing and drops no duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def describe(body: bytes, headers: dict[str, str], secret: str | None) -> str:
    """The line printed for one delivery."""
    if secret is None:
        verdict, event = "unchecked", _json(body)
    else:
        try:
            verdict, event = "verified", Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            verdict, event = f"REJECTED ({exc})", _json(body)
    if not isinstance(event, dict):
        return f"{verdict} webhook-id={headers.get('webhook-id')} (not a JSON object)"
    subject = event.get("subject") or {}
    return (
        f"{verdict} webhook-id={headers.get('webhook-id')} {event.get('type')} "
        f"{subject.get('type')}={subject.get('id')} at {event.get('occurred_at')}"
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def receiver(
    secret: str | None, out: Callable[[str], None] = print
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            out(describe(body, headers, secret))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app
