"""What `serve` and `load-demo` print for the person at the terminal.

Output goes to container logs, so it never shows a secret of the deployment: a password is
named by where it is kept (FIRST_ADMIN_PASSWORD, the development admin's file), not shown.
The only credentials printed are the demo world's, and the demo world is never in production:
its password, which is published, and its client's secret at the one start that creates it
(every start says how to make a new client instead)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services.demo import DemoSummary


def server_lines(base: str, admin_email: str | None, password_file: Path | None) -> list[str]:
    """Where the API is, and a login line for the first admin whose password is not in it."""
    lines = ["", f"SCORE4Climate API on {base}", f"  docs:   {base}/docs   (ReDoc: {base}/redoc)"]
    if admin_email:
        password = f'"$(cat {password_file})"' if password_file else '"$FIRST_ADMIN_PASSWORD"'
        lines.append(
            f"  log in: curl -s {base}/v1/auth/token -d grant_type=password -d username={admin_email} -d password={password}"
        )
    return [*lines, ""]


def admin_row(admin_email: str | None, password_file: Path | None, development: bool, data_dir: Path) -> str:
    """The admin line of the demo logins: who, and where the password is."""
    if admin_email and password_file:
        return f"{admin_email} (password in {password_file})"
    if admin_email:
        return f"{admin_email} (password: FIRST_ADMIN_PASSWORD)"
    if development:
        return f"admin@score4climate.local (`score4climate serve` creates it; password in {data_dir / 'first_admin_password'})"
    return "set FIRST_ADMIN_EMAIL/FIRST_ADMIN_PASSWORD, or `score4climate create-user --role admin`"


def demo_lines(summary: DemoSummary, admin: str, base: str) -> list[str]:
    """The demo logins (all with the demo's published password) and a first call to try."""
    if summary.created:
        lines = ["demo data loaded: 1 partner, 2 experts, 2 lead buyers, 3 enterprises (IN, GH, CN)"]
    else:
        lines = ["demo data already present: nothing new was created"]
    rows = [("admin", admin, "")] + [(login.role, login.email, login.who) for login in summary.logins]
    width = max(len(role) for role, _, _ in rows)
    email_width = max((len(email) for role, email, _ in rows if role != "admin"), default=0)
    lines += ["", f"demo logins (password for every demo user: {summary.password})"]
    lines += [f"  {role:<{width}}  {email:<{email_width}}  {who}".rstrip() for role, email, who in rows]
    if summary.api_client_id:
        secret = f"client_secret={summary.api_client_secret}" if summary.api_client_secret else "(secret: see below)"
        lines.append(f"  {'client':<{width}}  client_id={summary.api_client_id}  {secret}")
    first = summary.logins[0].email if summary.logins else "EMAIL"
    lines += [
        "",
        f"try: curl -s {base}/v1/auth/token -d grant_type=password -d username={first} -d password={summary.password}",
        *new_client_hint(summary.password, base),
    ]
    return lines


def new_client_hint(demo_password: str, base: str) -> list[str]:
    """How to get a client secret after the start that created the demo client: a client's
    secret is shown once, so create another client (a buyer may, for its own organisation)."""
    from app.services.demo import CLIENT_OWNER

    login = f"-d grant_type=password -d username={CLIENT_OWNER} -d password={demo_password}"
    return [
        "",
        "a client secret is shown only when the client is created; for a new one, create another client:",
        f"  BUYER=$(curl -s {base}/v1/auth/token {login} | jq -r .access_token)",
        f'  curl -s -X POST {base}/v1/api-clients -H "Authorization: Bearer $BUYER" '
        """-H 'Content-Type: application/json' -d '{"name": "my sourcing system"}'""",
    ]
