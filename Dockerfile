# syntax=docker/dockerfile:1
# SCORE4Climate Programme API: production image.
#   docker build -t score4climate-api .
#   docker run -e DATABASE_URL=... -e SECRET_KEY=... -p 8000:8000 score4climate-api

# ---- builder: dependencies and the project into /opt/venv ----
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /app
# app/cli.py finds alembic.ini and alembic/ next to the `app` package (ROOT = app/..), so
# the package must be imported from /app, not from site-packages: install it in editable
# mode. The editable finder maps the top-level `app` package to /app/app, so a stub
# package is enough here and this dependency layer is rebuilt only when pyproject.toml
# changes; the runtime stage puts the real sources at the same path.
COPY pyproject.toml README.md ./
RUN mkdir app && touch app/__init__.py \
    && pip install --upgrade pip \
    && pip install -e .

# ---- runtime ----
FROM python:3.11-slim

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    PORT=8000

RUN groupadd --system --gid 10001 score4climate \
    && useradd --system --uid 10001 --gid score4climate --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin score4climate

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic/ ./alembic/
COPY app/ ./app/
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/entrypoint.sh

USER score4climate
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=3)" || exit 1

ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
